"""Table-reading metrics of a predicted Markdown table against the truth.

- cell accuracy: truth cells (header included) whose text the prediction has at the same
  (row, column), over all truth cells of the set (micro average);
- exact: the whole Markdown equal (trailing white space ignored);
- TEDS (Zhong et al. 2020): 1 - TreeEditDistance / max(nodes) on the trees
  table -> row -> cell, insert/delete cost 1, renaming a cell costs the normalised
  Levenshtein distance of the texts; tree edit distance by Zhang-Shasha.
Parsing is tolerant: any line starting with `|` is a row, the `---` line is skipped, `\\|`
is an escaped pipe. Self-check: `/usr/bin/python3 tools/train/table_metrics.py`.
"""
import sys

MAX_ROWS = 60  # a runaway prediction is cut here (the truth has <= 9 rows)


def parse(text):
    rows = []
    for line in text.split("\n"):
        line = line.strip()
        if not line.startswith("|"):
            continue
        body = line[1:-1] if line.endswith("|") and len(line) > 1 else line[1:]
        cells, cur, i = [], [], 0
        while i < len(body):
            ch = body[i]
            if ch == "\\" and i + 1 < len(body):
                cur.append(body[i + 1])
                i += 2
                continue
            if ch == "|":
                cells.append("".join(cur).strip())
                cur = []
            else:
                cur.append(ch)
            i += 1
        cells.append("".join(cur).strip())
        if all(c and set(c) <= set("-:") for c in cells):
            continue  # the header separator
        rows.append(cells)
        if len(rows) >= MAX_ROWS:
            break
    return rows


def levenshtein(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _tree(rows):
    """Post-order nodes: (label, text, leftmost-leaf index)."""
    nodes = []
    row_starts = []
    for row in rows:
        first = len(nodes)
        for cell in row:
            nodes.append(("td", cell, len(nodes)))
        nodes.append(("tr", "", first))
        row_starts.append(first)
    nodes.append(("table", "", 0))
    return nodes


def _rename(a, b):
    if a[0] != b[0]:
        return 1.0
    if a[0] != "td" or a[1] == b[1]:
        return 0.0
    return levenshtein(a[1], b[1]) / max(len(a[1]), len(b[1]))


def tree_edit_distance(t1, t2):
    """Zhang-Shasha over post-order node lists of _tree."""
    def keyroots(t):
        seen, roots = set(), []
        for i in range(len(t) - 1, -1, -1):
            if t[i][2] not in seen:
                seen.add(t[i][2])
                roots.append(i)
        return sorted(roots)
    td = [[0.0] * len(t2) for _ in t1]
    for i in keyroots(t1):
        for j in keyroots(t2):
            li, lj = t1[i][2], t2[j][2]
            m, n = i - li + 2, j - lj + 2
            fd = [[0.0] * n for _ in range(m)]
            for x in range(1, m):
                fd[x][0] = fd[x - 1][0] + 1
            for y in range(1, n):
                fd[0][y] = fd[0][y - 1] + 1
            for x in range(1, m):
                for y in range(1, n):
                    a, b = li + x - 1, lj + y - 1
                    if t1[a][2] == li and t2[b][2] == lj:
                        fd[x][y] = min(fd[x - 1][y] + 1, fd[x][y - 1] + 1,
                                       fd[x - 1][y - 1] + _rename(t1[a], t2[b]))
                        td[a][b] = fd[x][y]
                    else:
                        p, q = t1[a][2] - li, t2[b][2] - lj
                        fd[x][y] = min(fd[x - 1][y] + 1, fd[x][y - 1] + 1, fd[p][q] + td[a][b])
    return td[-1][-1]


def teds(pred_rows, true_rows):
    t1, t2 = _tree(pred_rows), _tree(true_rows)
    return 1.0 - tree_edit_distance(t1, t2) / max(len(t1), len(t2))


def score(pred, truth):
    """(correct cells, truth cells, exact, teds) of one prediction."""
    p, t = parse(pred), parse(truth)
    correct = sum(1 for r, row in enumerate(t) for c, cell in enumerate(row)
                  if r < len(p) and c < len(p[r]) and p[r][c] == cell)
    return correct, sum(len(row) for row in t), pred.rstrip() == truth.rstrip(), teds(p, t)


def summarise(preds, truths):
    correct = cells = exact = 0
    teds_sum = 0.0
    for pred, truth in zip(preds, truths):
        c, n, e, s = score(pred, truth)
        correct, cells, exact, teds_sum = correct + c, cells + n, exact + e, teds_sum + s
    k = max(1, len(truths))
    return {"images": len(truths), "cell_accuracy": correct / max(1, cells),
            "exact": exact / k, "teds": teds_sum / k}


def selftest():
    truth = "| A | B |\n| --- | --- |\n| x\\|y | 12 |\n| z | 3 |\n"
    checks = [
        (score(truth, truth), (6, 6, True, 1.0)),
        (score(truth.replace("12", "13"), truth)[:3], (5, 6, False)),
        (parse(truth)[1], ["x|y", "12"]),
        (score("", truth)[0], 0),
    ]
    ok = all(got == want for got, want in checks)
    # One renamed cell (distance 1/2) out of 10 nodes -> TEDS 0.95.
    s = teds(parse(truth.replace("12", "13")), parse(truth))
    ok = ok and abs(s - 0.95) < 1e-12
    # A dropped row: 3 nodes (tr + 2 td) deleted of 10 -> 0.7.
    s2 = teds(parse("| A | B |\n| --- | --- |\n| x\\|y | 12 |\n"), parse(truth))
    ok = ok and abs(s2 - 0.7) < 1e-12
    print("table_metrics selftest:", "ok" if ok else "FAIL", checks, s, s2)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(selftest())
