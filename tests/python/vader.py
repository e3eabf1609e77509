"""The VADER sentences (Hutto & Gilbert, ICWSM 2014; scripts/fetch_data.sh puts them into
Ember's data cache from the vadersentiment 3.3.2 sdist): the text of every line of the four
*_GroundTruth.txt files (amazon, movie, nyt, tweets; "id<TAB>rating<TAB>text"), in file
order: 23,703 sentences."""

import os
from pathlib import Path
from typing import List

FILES = ["amazonReviewSnippets", "movieReviewSnippets", "nytEditorialSnippets", "tweets"]


def data_dir() -> Path:
    """Ember's data cache (scripts/fetch_data.sh's rule)."""
    if os.environ.get("EMBER_DATA_DIR"):
        return Path(os.environ["EMBER_DATA_DIR"])
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "ember" / "data"
    return Path.home() / ".cache" / "ember" / "data"


def load_sentences() -> List[str]:
    root = data_dir() / "vader" / "hutto_ICWSM_2014"
    out = []
    for name in FILES:
        path = root / f"{name}_GroundTruth.txt"
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: run scripts/fetch_data.sh")
        for line in path.read_text(encoding="utf-8").split("\n"):
            parts = line.rstrip("\r").split("\t", 2)
            if len(parts) == 3 and parts[2].strip():
                out.append(parts[2])
    return out
