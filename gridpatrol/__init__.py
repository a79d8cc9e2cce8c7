"""gridpatrol: grid-based community safety."""

__version__ = "0.1.0"
