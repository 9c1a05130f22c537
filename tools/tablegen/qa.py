"""Question/answer pairs about a table, answerable from the image alone.

Answers are the cell text as printed (not Markdown-escaped). Questions that
would be ambiguous (ties for largest/smallest, empty cells) are not asked.
"""


def _ordinal(n):
    if 10 <= n % 100 <= 20:
        suffix = "th"
    else:
        suffix = {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return "%d%s" % (n, suffix)


def _extreme(table, col, largest):
    values = [(row_nums[col], r) for r, row_nums in enumerate(table["numbers"])
              if row_nums[col] is not None]
    if len(values) < 2:
        return None
    best = max(values) if largest else min(values)
    if sum(1 for v, _ in values if v == best[0]) > 1:
        return None
    return best[1]


def make_qa(rng, table, count):
    """Returns up to `count` distinct {"question", "answer", "type"} dicts."""
    header, rows = table["header"], table["rows"]
    n_rows, n_cols = len(rows), len(header)
    key_head = header[0]
    pool = [
        {"type": "row_count",
         "question": "How many rows does the table have, not counting the header?",
         "answer": str(n_rows)},
        {"type": "column_count", "question": "How many columns does the table have?",
         "answer": str(n_cols)},
    ]
    for c in range(n_cols):
        pool.append({"type": "column_header",
                     "question": "What is the header of the %s column?" % _ordinal(c + 1),
                     "answer": header[c]})
    for r in range(n_rows):
        for c in range(1, n_cols):
            if rows[r][c]:
                pool.append({"type": "cell_lookup",
                             "question": "What is the %s of the row whose %s is %s?"
                                         % (header[c], key_head, rows[r][0]),
                             "answer": rows[r][c]})
                pool.append({"type": "cell_position",
                             "question": "What is in row %d, column %d?" % (r + 1, c + 1),
                             "answer": rows[r][c]})
    for c in range(1, n_cols):
        for largest, word in ((True, "largest"), (False, "smallest")):
            r = _extreme(table, c, largest)
            if r is None:
                continue
            pool.append({"type": "max_value" if largest else "min_value",
                         "question": "What is the %s value in the %s column?" % (word, header[c]),
                         "answer": rows[r][c]})
            pool.append({"type": "argmax" if largest else "argmin",
                         "question": "Which %s has the %s %s?" % (key_head, word, header[c]),
                         "answer": rows[r][0]})
    # Always keep the structural questions, then sample the rest.
    fixed, rest = pool[:2], pool[2:]
    rng.shuffle(rest)
    return (fixed + rest)[:count]
