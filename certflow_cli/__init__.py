"""`certflow`: the command line client of the certflow services, for registrars and scripts.

A client only: the services never import it. It may use certflow.core (the same validation
rules the services apply) and the generated certflow.v1 stubs.
"""
