class CutoverError(Exception):
    """A request the cutover rules refuse; the message is shown to the person as it is."""


class NotAllowed(CutoverError):
    """The person may not do this (role, four-eyes, state)."""


class GateMessageInvalid(CutoverError):
    """A gate queue message that cannot be turned into a gate."""
