"""The one exception type the CLI turns into a single clear line and a non-zero exit."""


class RtdepthError(Exception):
    """A problem the user can fix (bad file, missing device, wrong option); never a bug."""

    exit_code = 2
