"""Wire protocol: request parsing (sans-IO) and RESP2/RESP3 reply encoding."""
