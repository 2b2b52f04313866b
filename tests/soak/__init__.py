"""`make soak`: a long fault run against the stack `make run` starts (see __main__)."""
