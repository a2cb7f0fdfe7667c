"""Where a server operation's time goes through the real cloud: marks read
from the instance's lines in nova-compute logs and from the engines'
events, and the phases between them (the cloud's boots, the moves)."""

import dataclasses
import datetime
import re

# Joins the names of phases merged for a missing mark (Plan.split).
MERGED = ' + '
LOG_LINE = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) .*?'
                      r'\[instance: ([0-9a-f-]{36})\] (.*)$')


@dataclasses.dataclass(frozen=True)
class Plan:
    """What marks an operation's steps, and the phases they divide it in.

    ``log_marks``: (mark, node, pattern of a line of the instance in that
    node's nova-compute log; a group in it is kept as '<mark> for', a
    number of seconds the line gives). ``event_marks``: (mark, node, event
    type, action of that node's engine; a container event must be the
    instance's container). ``phases``: (phase, the mark ending it), in
    their order; ``last_phase`` runs from the last mark to the end.
    """

    log_marks: tuple
    event_marks: tuple
    phases: tuple
    last_phase: str

    def marks(self, logs, engines, server_id, since, until):
        """{mark: time.time()} of ``server_id``'s operation between
        ``since`` and ``until``; ``logs`` and ``engines`` map a node's
        number to its nova-compute log's path and its engine client."""
        found = {}
        lines = {node: instance_lines(path, server_id, since, until)
                 for node, path in logs.items()}
        for mark, node, pattern in self.log_marks:
            for when, message in lines[node]:
                matched = pattern.match(message)
                if matched:
                    found[mark] = when
                    if matched.groups():
                        found[mark + ' for'] = float(matched.group(1))
                    break
        events = {node: list(engine.events(
            since=int(since), until=int(until) + 1, decode=True))
            for node, engine in engines.items()}
        name = 'nova-' + server_id
        for mark, node, kind, action in self.event_marks:
            for event in events[node]:
                when = event['timeNano'] / 1e9
                ours = kind != 'container' or event['Actor'][
                    'Attributes'].get('name') == name
                if (event['Type'], event['Action']) == (kind, action) and (
                        ours and since <= when <= until):
                    found[mark] = when
                    break
        return found

    def split(self, found, since, until):
        """[(phase, seconds)] from ``since`` to ``until`` as ``found``'s
        marks divide it: a phase whose mark is missing (or out of order)
        merges into the next one."""
        steps, names, last = [], [], since
        for name, mark in self.phases:
            names.append(name)
            when = found.get(mark)
            if when is None or when < last:
                continue
            steps.append((MERGED.join(names), when - last))
            names, last = [], when
        steps.append((MERGED.join(names + [self.last_phase]), until - last))
        return steps

    def order(self, phase):
        """A phase's place, for sorting (a merged one's is its first's)."""
        names = [name for name, _ in self.phases] + [self.last_phase]
        return names.index(phase.split(MERGED)[0])


def instance_lines(path, server_id, since, until):
    """[(time.time() of the line, message)] of ``server_id``'s log lines
    between ``since`` and ``until``."""
    found = []
    with open(path, errors='replace') as f:
        for line in f:
            matched = LOG_LINE.match(line)
            if not matched or matched.group(2) != server_id:
                continue
            when = datetime.datetime.strptime(
                matched.group(1), '%Y-%m-%d %H:%M:%S.%f').timestamp()
            if since <= when <= until:
                found.append((when, matched.group(3)))
    return found
