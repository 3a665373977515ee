"""The 3.0 domain: event catalogue and the payload rules that writes must follow."""
