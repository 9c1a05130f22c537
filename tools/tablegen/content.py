"""Table content: column types, their headers and cell values.

A table is a header row plus body rows of strings. The first column holds
row keys (words, names, places or codes) that are unique within the table so
that questions can name a row by its key. Numeric columns keep a parsed
value next to the printed text for the largest/smallest questions.
"""

WORDS = ("apple", "anchor", "basket", "bridge", "candle", "canyon", "copper",
         "delta", "engine", "falcon", "garden", "harbor", "island", "jacket",
         "kettle", "ladder", "marble", "meadow", "needle", "orbit", "pepper",
         "pillow", "quartz", "rocket", "saddle", "silver", "tablet", "timber",
         "velvet", "walnut", "yellow", "zephyr", "cotton", "lantern", "mirror",
         "paper", "river", "stone", "tiger", "violet")
FIRST_NAMES = ("Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace",
               "Hugo", "Ines", "Jonas", "Kira", "Liam", "Maya", "Noah",
               "Olga", "Pablo", "Quinn", "Rosa", "Sven", "Tara", "Uma",
               "Victor", "Wei", "Yara", "Zoe")
LAST_NAMES = ("Adams", "Brown", "Costa", "Dubois", "Evans", "Fischer",
              "Garcia", "Hansen", "Ito", "Jensen", "Kowalski", "Lopez",
              "Martin", "Nakamura", "O'Neil", "Petrov", "Rossi", "Schmidt",
              "Tanaka", "Ueda", "Varga", "Weber", "Young", "Zimmer")
PLACES = ("Amsterdam", "Athens", "Berlin", "Bogota", "Cairo", "Chicago",
          "Dakar", "Denver", "Dublin", "Geneva", "Hanoi", "Lagos", "Lima",
          "Lisbon", "Madrid", "Manila", "Oslo", "Paris", "Perth", "Quito",
          "Riga", "Rome", "Seoul", "Sydney", "Tokyo", "Toronto", "Vienna",
          "Warsaw", "Zurich", "New York", "Sao Paulo", "Cape Town")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep",
          "Oct", "Nov", "Dec")

HEADERS = {
    "word": ("Item", "Product", "Category", "Material", "Label"),
    "name": ("Name", "Owner", "Author", "Player", "Contact"),
    "place": ("City", "Location", "Office", "Origin", "Venue"),
    "code": ("Code", "ID", "SKU", "Ref", "Batch"),
    "integer": ("Count", "Units", "Qty", "Score", "Stock", "Visits"),
    "money": ("Price", "Revenue", "Cost", "Budget", "Total"),
    "percent": ("Share", "Growth", "Rate", "Margin", "Change"),
    "date": ("Date", "Updated", "Due", "Opened", "Shipped"),
    "year": ("Year", "Founded", "Built", "Season"),
}
KEY_TYPES = ("word", "name", "place", "code")
VALUE_TYPES = ("word", "name", "place", "code", "integer", "money", "percent",
               "date", "year")
NUMERIC_TYPES = ("integer", "money", "percent", "year")


def _group_thousands(n):
    return "{:,}".format(n)


def make_value(rng, kind):
    """Returns (text, number or None) for one cell of the given kind."""
    if kind == "word":
        word = rng.choice(WORDS)
        return (word.capitalize() if rng.random() < 0.5 else word), None
    if kind == "name":
        if rng.random() < 0.3:
            return "%s. %s" % (rng.choice(FIRST_NAMES)[0], rng.choice(LAST_NAMES)), None
        return "%s %s" % (rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)), None
    if kind == "place":
        return rng.choice(PLACES), None
    if kind == "code":
        letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(rng.randint(1, 3)))
        # A pipe now and then so that the Markdown escaping is exercised.
        sep = rng.choice(("-", "-", "/", "_", "|")) if rng.random() < 0.7 else ""
        return "%s%s%d" % (letters, sep, rng.randint(1, 9999)), None
    if kind == "integer":
        digits = rng.randint(1, 6)
        value = rng.randint(0, 10 ** digits - 1)
        if rng.random() < 0.1:
            value = -value
        return (_group_thousands(value) if value >= 10000 and rng.random() < 0.7
                else str(value)), float(value)
    if kind == "money":
        symbol = rng.choice(("$", "$", "\u20ac", "\u00a3"))
        cents = rng.random() < 0.5
        value = rng.randint(1, 10 ** rng.randint(2, 7))
        text = _group_thousands(value)
        number = float(value)
        if cents:
            frac = rng.randint(0, 99)
            text += ".%02d" % frac
            number += frac / 100.0
        return symbol + text, number
    if kind == "percent":
        if rng.random() < 0.5:
            value = rng.randint(0, 100)
            return "%d%%" % value, float(value)
        value = rng.randint(-999, 999) / 10.0
        return "%.1f%%" % value, value
    if kind == "date":
        year, month, day = rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)
        form = rng.randint(0, 2)
        if form == 0:
            return "%04d-%02d-%02d" % (year, month, day), None
        if form == 1:
            return "%d %s %d" % (day, MONTHS[month - 1], year), None
        return "%02d/%02d/%04d" % (month, day, year), None
    if kind == "year":
        value = rng.randint(1900, 2030)
        return str(value), float(value)
    raise ValueError("tablegen: unknown content kind %r" % kind)


# Open vocabulary (training only): made-up words in the shape of European words and
# names, so that a reader trained on them reads letters instead of recalling the lists
# above (the browser-rendered tables' words are in none of them).
ONSETS = ("b", "br", "c", "ch", "d", "dr", "f", "fl", "g", "gr", "h", "j", "k", "kl",
          "l", "m", "n", "p", "pr", "qu", "r", "s", "sch", "sh", "sk", "st", "t", "th",
          "tr", "v", "w", "z", "")
NUCLEI = ("a", "e", "i", "o", "u", "a", "e", "i", "o", "ai", "ei", "ou", "y", "ie")
CODAS = ("", "", "", "", "", "n", "r", "l", "s", "t", "nd", "rt", "st", "ck", "m", "x", "qv",
         "ng", "rd", "lt", "z")


def open_word(rng):
    """One made-up word of 1-3 syllables."""
    return "".join(rng.choice(ONSETS) + rng.choice(NUCLEI) + rng.choice(CODAS)
                   for _ in range(rng.choice((1, 2, 2, 3))))


def open_value(rng, kind):
    """A made-up cell of an open-vocabulary kind (word, name, place)."""
    if kind == "word":
        words = [open_word(rng) for _ in range(rng.choice((1, 1, 2)))]
        return " ".join(words).capitalize() if rng.random() < 0.5 else " ".join(words)
    if kind == "name":
        last = open_word(rng).capitalize()
        if rng.random() < 0.3:
            return "%s. %s" % (rng.choice("ABCDEFGHIJKLMNOPRSTUVWZ"), last)
        return "%s %s" % (open_word(rng).capitalize(), last)
    return " ".join(open_word(rng).capitalize() for _ in range(rng.choice((1, 1, 1, 2))))


OPEN_TYPES = ("word", "name", "place")


def open_vocabulary(table, rng, share):
    """Replaces each non-empty word, name and place cell by a made-up one with probability
    share (row keys stay unique). rng is a stream of its own, so the table's other cells
    and its style are those of the closed-vocabulary sample."""
    keys = set(row[0] for row in table["rows"])
    for row in table["rows"]:
        for col, kind in enumerate(table["kinds"]):
            if kind not in OPEN_TYPES or not row[col] or rng.random() >= share:
                continue
            text = open_value(rng, kind)
            if col == 0:
                if text in keys:
                    continue
                keys.discard(row[0])
                keys.add(text)
            row[col] = text


def make_table(rng, n_rows, n_cols, empty_rate):
    """Returns a dict: header [str], kinds [str], rows [[str]], numbers [[float|None]]."""
    kinds = [rng.choice(KEY_TYPES)]
    for _ in range(n_cols - 1):
        kinds.append(rng.choice(VALUE_TYPES))
    header = []
    for kind in kinds:
        choices = [h for h in HEADERS[kind] if h not in header]
        header.append(rng.choice(choices) if choices else "Col %d" % (len(header) + 1))
    rows, numbers = [], []
    keys = set()
    for _ in range(n_rows):
        row, nums = [], []
        for col, kind in enumerate(kinds):
            text, number = make_value(rng, kind)
            if col == 0:
                tries = 0
                while text in keys and tries < 50:
                    text, number = make_value(rng, kind)
                    tries += 1
                if text in keys:  # pools exhausted: make it unique by suffix
                    text = "%s %d" % (text, len(keys) + 1)
                keys.add(text)
            elif rng.random() < empty_rate:
                text, number = "", None
            row.append(text)
            nums.append(number)
        rows.append(row)
        numbers.append(nums)
    return {"header": header, "kinds": kinds, "rows": rows, "numbers": numbers}
