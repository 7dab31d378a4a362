"""The chaos suite: real worker processes under injected faults, checked by an oracle."""
