"""Readable default run names (``brave-otter-042``)."""

import random

_ADJ = ("able", "bold", "brave", "bright", "calm", "clever", "crisp", "eager", "fair", "fleet", "gentle",
        "glad", "keen", "lively", "lucid", "merry", "nimble", "proud", "quick", "quiet", "sharp", "steady",
        "swift", "tidy", "vivid", "warm", "wise", "zesty")
_NOUN = ("albatross", "anchor", "beacon", "breeze", "compass", "current", "dolphin", "gale", "harbor",
         "heron", "keel", "lagoon", "mast", "orca", "otter", "pelican", "reef", "rudder", "schooner",
         "seal", "sextant", "skiff", "squall", "tern", "tide", "whale")


def random_run_name() -> str:
    return f"{random.choice(_ADJ)}-{random.choice(_NOUN)}-{random.randint(0, 999):03d}"
