#!/usr/bin/env bash
# Description: the Grafana dashboard is valid JSON that Grafana can import (schema, datasource and app/cpu variables, panels with queries); every metric and label it queries is in dist/shmlog-metrics.txt, and the collector exposes exactly the families of that list, and the loss reasons it names.
# usage: test_grafana.sh DASHBOARD.json METRICS.txt (with COLLECTOR set, as meson test sets it: what it exposes too)
set -u
dashboard=$1
metrics=$2
tmp=$(mktemp -d /tmp/shmlog-test-grafana-XXXXXX)
. "$(dirname "$0")/tap.sh"
trap tap_cleanup EXIT
tap_require python3 python3

if ! python3 -m json.tool "$dashboard" >/dev/null; then
    not_ok "$dashboard is not valid JSON"
    tap_finish
fi
ok "$dashboard parses (python3 -m json.tool)"

# What the collector really exposes: the metrics file it writes on exit.
exposition=""
if [ -n "${COLLECTOR:-}" ]; then
    tap_programs COLLECTOR
    mkdir -p "$tmp/segments"
    if "$COLLECTOR" --once --dir "$tmp/segments" --out "$tmp/out" --metrics-file "$tmp/metrics.prom" \
        >"$tmp/collector.log" 2>&1 && [ -s "$tmp/metrics.prom" ]; then
        exposition="$tmp/metrics.prom"
    else
        not_ok "$COLLECTOR --once --metrics-file wrote no metrics"
        sed 's/^/#   /' "$tmp/collector.log"
        tap_finish
    fi
fi

# The checks in Python print their own TAP lines; they are counted here.
python3 - "$dashboard" "$metrics" "$exposition" >"$tmp/checks.tap" 2>&1 <<'PY'
import json, re, sys

dash = json.load(open(sys.argv[1]))
known = {}    # name -> type
labels = {}   # name -> set of label names
loss_reasons = set()  # what shmlog_collector_losses_total's reason label takes
for line in open(sys.argv[2]):
    line = line.strip()
    if line.startswith('# reasons of shmlog_collector_losses_total:'):
        loss_reasons = set(line.split(':', 1)[1].split())
    if line and not line.startswith('#'):
        name, kind, label_list = line.split()[:3]
        known[name] = kind
        labels[name] = set() if label_list == '-' else set(label_list.split(','))
# Prometheus adds these to every series it scrapes.
target_labels = {'instance', 'job'}
failures = []

def check(ok, what):
    print(('ok - ' if ok else 'not ok - ') + what)
    if not ok:
        failures.append(what)

check(isinstance(dash.get('schemaVersion'), int) and dash['schemaVersion'] >= 36,
      'schemaVersion %r >= 36' % dash.get('schemaVersion'))
check(bool(dash.get('title')) and bool(dash.get('uid')), 'title and uid are set')

variables = {v.get('name'): v for v in dash.get('templating', {}).get('list', [])}
ds = variables.get('datasource', {})
check(ds.get('type') == 'datasource' and ds.get('query') == 'prometheus',
      'a Prometheus datasource variable named datasource')
for name in ('app', 'cpu'):
    check(variables.get(name, {}).get('type') == 'query', 'a query variable $' + name)

# Every panel and query uses the datasource variable, so the dashboard imports
# into any Grafana without editing.
def walk(node, path):
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, path + '/' + str(k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, path + '/' + str(i))

panels = [n for _, n in walk(dash.get('panels', []), '') if 'gridPos' in n and n.get('type') != 'row']
check(len(panels) >= 8, '%d panels (at least 8)' % len(panels))
ids = [p.get('id') for _, p in walk(dash.get('panels', []), '') if 'gridPos' in p]
check(len(ids) == len(set(ids)) and None not in ids, 'panel ids are unique')
for p in panels:
    uid = (p.get('datasource') or {}).get('uid')
    check(uid == '${datasource}', 'panel "%s" uses ${datasource}' % p.get('title'))
    targets = p.get('targets') or []
    check(targets and all(t.get('expr') for t in targets), 'panel "%s" has queries' % p.get('title'))

# Every metric name in a query, a variable or a label_values() call.
exprs = []
for path, node in walk(dash, ''):
    for key in ('expr', 'definition'):
        if isinstance(node.get(key), str):
            exprs.append((path + '/' + key, node[key]))
    q = node.get('query')
    if isinstance(q, dict) and isinstance(q.get('query'), str):
        exprs.append((path + '/query', q['query']))
used = set()
for path, e in exprs:
    # drop label matchers and legend templates: label values may contain anything
    bare = re.sub(r'\{[^}]*\}', '', e)
    names = re.findall(r'\b(shmlog_[a-z0-9_]+)\b', bare)
    for name in names:
        used.add(name)
        if name not in known:
            check(False, '%s: %s is not a collector metric' % (path, name))
    # Labels matched or grouped by must exist on the metrics the query reads.
    have = set(target_labels)
    for name in names:
        have |= labels.get(name, set())
    for name, matchers in re.findall(r'\b(shmlog_[a-z0-9_]+)\{([^}]*)\}', e):
        for label in re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*[=!]~?', matchers):
            if label not in labels.get(name, set()) | target_labels:
                check(False, '%s: %s has no label %s' % (path, name, label))
    for group in re.findall(r'\b(?:by|without)\s*\(([^)]*)\)', e):
        for label in re.split(r'\s*,\s*', group.strip()):
            if label and label not in have:
                check(False, '%s: grouped by %s, which no metric of the query has' % (path, label))
    for fn, name in re.findall(r'\b(rate|increase)\((shmlog_[a-z0-9_]+)', bare):
        if name in known and known[name] != 'counter':
            check(False, '%s: %s() over the gauge %s' % (path, fn, name))
check(used and used <= set(known), '%d metric names used, all exposed by the collector' % len(used))

# The panels the operators asked for.
for needed in ('shmlog_ring_records_total', 'shmlog_ring_dropped_records_total', 'shmlog_ring_fill_ratio',
               'shmlog_ring_lag_seconds', 'shmlog_collector_written_bytes_total',
               'shmlog_collector_compression_ratio', 'shmlog_collector_cpu_seconds_total',
               'shmlog_collector_losses_total'):
    check(needed in used, 'a panel shows ' + needed)

# The list is what the collector exposes: every family, with its type.
if sys.argv[3]:
    exposed = {}
    for line in open(sys.argv[3]):
        m = re.match(r'# TYPE (\S+) (\S+)', line)
        if m:
            exposed[m.group(1)] = m.group(2)
    check(exposed == known, 'the collector exposes exactly the %d families of the list, same types%s' % (
        len(known), '' if exposed == known else ': exposed %r' % sorted(set(exposed.items()) ^ set(known.items()))))
    reasons = set(re.findall(r'^shmlog_collector_losses_total\{reason="([a-z_]+)"\}', open(sys.argv[3]).read(), re.M))
    check(bool(reasons), 'losses_total carries reason labels: %s' % ', '.join(sorted(reasons)))
    check(reasons == loss_reasons, 'losses_total has exactly the reasons the list names%s' % (
        '' if reasons == loss_reasons else ': exposed and listed differ in %s' % sorted(reasons ^ loss_reasons)))

sys.exit(1 if failures else 0)
PY
status=$?
cat "$tmp/checks.tap"
passed=$((passed + $(grep -c '^ok ' "$tmp/checks.tap")))
failed=$((failed + $(grep -c '^not ok ' "$tmp/checks.tap")))
[ $status -eq 0 ] || [ $failed -gt 0 ] || not_ok "the dashboard checks ended with status $status"
tap_done
