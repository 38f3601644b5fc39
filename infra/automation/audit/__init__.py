"""The audit trail: every state-changing command records who ran it, why, with what arguments, when it
started and ended and how it ended, in the stack's state store (`streamgate history` lists them)."""
