"""Font discovery: the Latin-capable families of the Debian font packages.

The families are every family of fonts-dejavu-core, fonts-liberation and
fonts-noto-core whose regular face draws every character of CHARSET (the
script-only Noto families fail that check). The list is fixed in FAMILIES so
that a seed gives the same images on every machine: discover() checks that each
is installed and covers CHARSET, and fails naming the package otherwise.
A fixed list of families is held out of train/val for the style-held-out test.
"""
import functools
import glob
import os

from PIL import ImageFont

FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/truetype/liberation",
    "/usr/share/fonts/truetype/noto",
)

# Every character the generator can emit; the ViT's classes are these + blank.
CHARSET = "".join(chr(c) for c in range(33, 127)) + "\u20ac\u00a3"

# family -> Debian package; fonts-dejavu-extra (Condensed, ...) is not used
# because it is not part of the set we require.
FAMILIES = {
    "DejaVuSans": "fonts-dejavu-core",
    "DejaVuSansMono": "fonts-dejavu-core",
    "DejaVuSerif": "fonts-dejavu-core",
    "LiberationMono": "fonts-liberation",
    "LiberationSans": "fonts-liberation",
    "LiberationSansNarrow": "fonts-liberation",
    "LiberationSerif": "fonts-liberation",
    "NotoSans": "fonts-noto-core",
    "NotoSansDisplay": "fonts-noto-core",
    "NotoSerif": "fonts-noto-core",
    "NotoSerifDisplay": "fonts-noto-core",
}

# Never drawn in train/val/test: only in the "heldout" split. Each has a
# sibling of the same kind (serif, mono, sans) left in training.
HELD_OUT_FAMILIES = ("LiberationSerif", "LiberationMono", "NotoSansDisplay")

_NOT_A_CHAR = "\U0010fffd"  # private use: no font draws it, so it gives .notdef


def font_dirs():
    """FONT_DIRS, or the colon-separated folders of $NVLM_FONT_DIRS (a machine
    without the Debian packages can be given a copy of the same files)."""
    override = os.environ.get("NVLM_FONT_DIRS")
    return tuple(override.split(":")) if override else FONT_DIRS


def _split_name(path):
    """'DejaVuSans-Bold.ttf' -> ('DejaVuSans', 'Bold'); no dash -> 'Regular'."""
    stem = os.path.splitext(os.path.basename(path))[0]
    if "-" in stem:
        family, face = stem.split("-", 1)
    else:
        family, face = stem, "Regular"
    return family, face


def _covers(path, chars):
    font = ImageFont.truetype(path, 16, layout_engine=ImageFont.Layout.BASIC)
    notdef = bytes(font.getmask(_NOT_A_CHAR))
    for ch in chars:
        if bytes(font.getmask(ch)) == notdef:
            return False
    return True


@functools.lru_cache(maxsize=None)
def discover():
    """Returns {family: {"regular": path, "bold": path or None}}, sorted by name."""
    faces = {}
    for folder in font_dirs():
        for path in sorted(glob.glob(os.path.join(folder, "*.ttf"))):
            family, face = _split_name(path)
            faces.setdefault(family, {})[face] = path
    families = {}
    for family in sorted(FAMILIES):
        regular = faces.get(family, {}).get("Regular")
        if regular is None:
            raise RuntimeError("tablegen: font family %s not installed "
                               "(apt-get install -y %s)" % (family, FAMILIES[family]))
        if not _covers(regular, CHARSET):
            raise RuntimeError("tablegen: font %s lacks some of the characters "
                               "the generator draws" % regular)
        families[family] = {"regular": regular, "bold": faces[family].get("Bold")}
    return families


def latin_families_installed():
    """All installed families covering CHARSET (to review FAMILIES by hand)."""
    found = []
    for folder in FONT_DIRS:
        for path in sorted(glob.glob(os.path.join(folder, "*.ttf"))):
            family, face = _split_name(path)
            # A cheap probe first: most script-only families fail on 'A'.
            if face == "Regular" and _covers(path, "Ag0") and _covers(path, CHARSET):
                found.append(family)
    return found


def families_for(split):
    """Family names a split may draw from, in a fixed order."""
    names = sorted(discover())
    if split == "heldout":
        return [n for n in names if n in HELD_OUT_FAMILIES]
    return [n for n in names if n not in HELD_OUT_FAMILIES]


@functools.lru_cache(maxsize=256)
def load(path, size):
    return ImageFont.truetype(path, size, layout_engine=ImageFont.Layout.BASIC)
