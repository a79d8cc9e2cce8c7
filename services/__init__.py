"""Write use cases: one function per change, one transaction each."""
