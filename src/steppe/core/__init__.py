"""The function-side execution core, shared by the embedded engine and the HTTP protocol."""
