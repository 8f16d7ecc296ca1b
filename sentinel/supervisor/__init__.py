"""`hasentinel supervise`: one host's server and sentinel as child processes.

The decisions (restart back-off, crash loop, health, shutdown order, the empty-master rule) are
in the sans-IO `policy`; `runner` executes them with Trio. See docs/operations.md.
"""
