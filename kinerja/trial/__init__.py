"""The field trial (`kinerja trial`): see kinerja/trial/run.py and docs/trial.md.

It runs from a checkout of the repository (an editable install): the broker it starts uses the
deployment's own configuration, deploy/mosquitto/kinerja.conf.
"""
