"""Reasons a page carries back from a handler it shares with the API (which answers in English), marked
here for the catalogues so the page can show them in the reader's language (`i18n.translate_text`
recognises a filled-in message by its pattern: `{value}` stands for whatever the handler put there)."""

from __future__ import annotations

from server.i18n import N_

SHARED_REASONS = (
    # activities (server/services/activities.py, server/api/activities.py, scoring's claims)
    N_("this account has no employee record to claim activities for"),
    N_("date: expected YYYY-MM-DD"),
    N_("quantity: expected a whole number"),
    N_("quantity: expected 1..{maximum}"),
    N_("start: expected HH:MM, got {value}"),
    N_("start: an activity is claimed after it was done, not before"),
    N_("choose at least one claim"),
    N_("reason: a rejection or a correction request needs a reason the employee can read"),
    N_("a claim is not one of your subordinates'"),
    N_("no such claim of yours"),
    N_("activity {code} is not in the catalogue"),
    N_("claim {claim} is {state}: cannot {action} it (must be {expected})"),
    N_("claim {claim}: a rejection needs a reason the employee can read"),
    N_("claim {claim}: a correction request needs a note saying what to fix"),
    N_("decision: expected one of {choices}"),
    # excuses (server/api/excuses.py)
    N_("{field}: expected a date as YYYY-MM-DD, got {value}"),
    N_("kind: expected one of {choices}"),
    N_("last_day: expected on or after first_day and within {days} days of it"),
    N_("note: expected text of at most 2000 characters"),
    N_("no such employee in your scope"),
    # accounts (server/api/users.py, server/services/accounts.py)
    N_("username, password and role are required"),
    N_("no such account in your scope"),
    N_("no such unit in your scope"),
    N_("an administrator cannot disable their own account"),
    N_("a unit administrator creates supervisor and employee accounts"),
    N_("role: expected one of {choices}, got {value}"),
    N_("username: expected 1-64 letters, digits, '.', '_' or '-', got {value}"),
    N_("password: expected at least {minimum} characters"),
    N_("a unit administrator needs --unit"),
    N_("a {role} account needs --nip, the employee record it belongs to"),
    N_("unit {unit} is not in the registry"),
    N_("employee {nip} is not in the registry"),
    N_("username {username} is taken"),
    # the month in a page's address (server/services/month.py)
    N_("month: expected YYYY-MM, got {value}"),
    N_("month: expected a year from 2000 to 2100, got {value}"),
    N_("invalid value: {detail}"),
    # the payroll (server/services/payroll.py, scoring's allowance)
    N_("{nip}: no grade held in {month}"),
    N_("{nip}: no monthly result"),
    # commands (server/services/commands.py) and what a gateway answers to them (gateway/commands.py)
    N_("this server does not talk to the broker"),
    N_("the broker did not take the command"),
    N_("clocks synchronised"),
    N_("logs read again"),
    N_("user {pin} written"),
    N_("{count} users synchronised"),
    N_("{count} users planned"),
    N_("device restarting"),
    N_("log cleared"),
    N_(
        "clear refused: device {device}: {count} punches read from the log are not yet acknowledged by the server;"
        " the log is cleared only once all of them are (try again after they are sent)"
    ),
    N_("clear refused: device {device}: punches arrived in the log while it was checked; not cleared (try again)"),
    N_(
        "device {device}: {count} punches read from the log are not yet acknowledged by the server; the log is"
        " cleared only once all of them are (try again after they are sent)"
    ),
)

# The titles of the policy presets (scoring/presets/*.toml), shown on the month page's explanation.
PRESET_TITLES = (
    N_("Common national table (TL/PSW 0.5/1/1.25/1.5 %, TK 5 %, cap 100 %)"),
    N_("Ministry of Agriculture 2012 (TL/PSW 0.5/1/1.5/2 %, TK or away > 7.5 h 4 %)"),
    N_("Ministry of Finance-like (07:30-17:00, lateness made up by staying later)"),
    N_("Rehabilitation centre: national table with morning, afternoon and night shifts"),
)
