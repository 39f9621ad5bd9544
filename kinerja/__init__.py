"""Kinerja: attendance and e-Performance for Indonesian government offices.

This package is the application on top of everything: the `kinerja` command line (`cli`), the demo,
the field trial (`trial/`), the process harness the trial and the tests use, and the release builder.
Nothing imports it. What the gateway and the server share is in `wire`; device code lives in
`gateway`, the central service in `server`, the pure scoring rules in `scoring`.
"""
