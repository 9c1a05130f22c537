"""GitHub-Markdown truth for a table: header, separator, body; '|' escaped."""


def escape_cell(text):
    # Backslashes first, so that an escaped pipe cannot be confused with a
    # literal backslash followed by a column separator.
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _line(cells):
    return "| " + " | ".join(escape_cell(c) for c in cells) + " |"


def to_markdown(header, rows):
    lines = [_line(header), "| " + " | ".join("---" for _ in header) + " |"]
    lines.extend(_line(row) for row in rows)
    return "\n".join(lines) + "\n"


def parse_markdown(text):
    """Inverse of to_markdown (for tests): returns (header, rows)."""
    def split(line):
        assert line.startswith("| ") and line.endswith(" |"), line
        body = line[2:-2]
        cells, cur, i = [], [], 0
        while i < len(body):
            ch = body[i]
            if ch == "\\" and i + 1 < len(body):
                cur.append(body[i + 1])
                i += 2
                continue
            if body.startswith(" | ", i):
                cells.append("".join(cur))
                cur = []
                i += 3
                continue
            cur.append(ch)
            i += 1
        cells.append("".join(cur))
        return cells
    lines = text.rstrip("\n").split("\n")
    return split(lines[0]), [split(l) for l in lines[2:]]
