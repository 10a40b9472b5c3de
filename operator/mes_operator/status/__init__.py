"""Status as pure functions of what the operator observed; patched once by the caller."""
