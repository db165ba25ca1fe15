// The search page of shmlog-dump serve. Every value from the server is put in with textContent or
// drawn on the canvas, never parsed as HTML: records are the producers' text, and a producer may be hostile.
'use strict';

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL'];
const LEVEL_COLOURS = ['#bbb', '#8ab', '#4a8', '#e90', '#d22', '#808'];
const BUCKETS = 60;
// The columns a reader looks at first; the rest follow in the order records bring them.
const LEADING_COLUMNS = ['time', 'level', 'category', 'app', 'host', 'pid', 'tid', 'thread', 'msg'];

// Integers past 2^53 (ts_ns, ids) kept as their digits: a double would show other digits than the API's.
function parseEvent(text) {
    return JSON.parse(text, (key, value, context) =>
        typeof value === 'number' && !Number.isSafeInteger(value) && context && /^-?[0-9]+$/.test(context.source)
            ? context.source : value);
}

const form = document.getElementById('search');
const statusLine = document.getElementById('status');
const thead = document.querySelector('#records thead');
const tbody = document.querySelector('#records tbody');
const detail = document.getElementById('detail');
const tailBox = document.getElementById('tail');
const canvas = document.getElementById('histogram');
const moreButton = document.getElementById('more');

let records = [];
let columns = [...LEADING_COLUMNS];
let tail = null; /* the live tail's AbortController */

function say(text, isError) {
    statusLine.textContent = text;
    statusLine.className = isError ? 'error' : '';
}

// The form's filters as the API's parameters; where takes several expressions split by ';'.
function filters(withWindow) {
    const p = new URLSearchParams();
    for (const name of ['level', 'category', 'app', 'grep']) {
        const v = form.elements[name].value.trim();
        if (v) p.append(name, v);
    }
    for (const w of form.elements.where.value.split(';')) {
        if (w.trim()) p.append('where', w.trim());
    }
    if (withWindow) {
        for (const name of ['since', 'until', 'limit']) {
            const v = form.elements[name].value.trim();
            if (v) p.append(name, v);
        }
    }
    return p;
}

function headers() {
    const token = form.elements.token.value;
    return token ? {Authorization: 'Bearer ' + token} : {};
}

function cellText(key, value) {
    if (value === null || value === undefined) return '';
    if (typeof value === 'object') return JSON.stringify(value);
    return String(value);
}

function addColumns(record) {
    let grew = !thead.rows.length;
    for (const key of Object.keys(record)) {
        if (!columns.includes(key)) {
            columns.push(key);
            grew = true;
        }
    }
    if (!grew) return;
    const row = document.createElement('tr');
    for (const key of columns) {
        const th = document.createElement('th');
        th.textContent = key;
        th.dataset.key = key;
        row.appendChild(th);
    }
    thead.replaceChildren(row);
}

function addRow(record, live) {
    addColumns(record);
    const tr = document.createElement('tr');
    for (const key of columns) {
        const td = document.createElement('td');
        td.textContent = cellText(key, record[key]);
        td.dataset.key = key;
        if (key === 'level') td.className = 'level-' + (LEVELS.includes(record.level) ? record.level : 'other');
        tr.appendChild(td);
    }
    if (live) tr.className = 'live';
    tr.addEventListener('click', () => showDetail(record, tr));
    tbody.appendChild(tr);
}

// Rows made before a later record brought new columns are one cell short per new column: filled in.
function padRows() {
    for (const tr of tbody.rows) {
        while (tr.cells.length < columns.length) tr.appendChild(document.createElement('td'));
    }
}

function detailEntries(prefix, value, out) {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        for (const [k, v] of Object.entries(value)) detailEntries(prefix ? prefix + '.' + k : k, v, out);
    } else {
        out.push([prefix, cellText(prefix, value)]);
    }
}

function showDetail(record, tr) {
    for (const row of tbody.querySelectorAll('tr.selected')) row.classList.remove('selected');
    tr.classList.add('selected');
    const dl = detail.querySelector('dl');
    const entries = [];
    detailEntries('', record, entries);
    const nodes = [];
    for (const [k, v] of entries) {
        const dt = document.createElement('dt');
        dt.textContent = k;
        const dd = document.createElement('dd');
        dd.textContent = v;
        dd.dataset.key = k;
        nodes.push(dt, dd);
    }
    dl.replaceChildren(...nodes);
    detail.hidden = false;
}

// Records over time by level, stacked, from the records the page holds (the answer's, then the tail's):
// /api/stats counts by level over the whole window, not by time.
function drawHistogram() {
    const ctx = canvas.getContext('2d');
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    const legend = document.getElementById('legend');
    const counts = LEVELS.map(() => 0);
    const timed = records.filter((r) => typeof r.ts_ns === 'number' || typeof r.ts_ns === 'string');
    if (!timed.length) {
        legend.replaceChildren();
        return;
    }
    let lo = Infinity, hi = -Infinity;
    for (const r of timed) {
        const t = Number(r.ts_ns);
        lo = Math.min(lo, t);
        hi = Math.max(hi, t);
    }
    const width = Math.max(hi - lo, 1);
    const bins = Array.from({length: BUCKETS}, () => LEVELS.map(() => 0));
    for (const r of timed) {
        const b = Math.min(BUCKETS - 1, Math.floor(((Number(r.ts_ns) - lo) / width) * BUCKETS));
        const l = LEVELS.indexOf(r.level);
        if (l >= 0) {
            bins[b][l]++;
            counts[l]++;
        }
    }
    const tallest = Math.max(1, ...bins.map((bin) => bin.reduce((a, n) => a + n, 0)));
    const barWidth = canvas.width / BUCKETS;
    bins.forEach((bin, i) => {
        let y = canvas.height;
        bin.forEach((n, l) => {
            const h = (n / tallest) * (canvas.height - 4);
            ctx.fillStyle = LEVEL_COLOURS[l];
            ctx.fillRect(i * barWidth + 1, y - h, barWidth - 2, h);
            y -= h;
        });
    });
    const spans = [document.createElement('span')];
    spans[0].textContent = new Date(lo / 1e6).toISOString() + ' .. ' + new Date(hi / 1e6).toISOString() + ' in ' + BUCKETS + ' bars:';
    LEVELS.forEach((name, l) => {
        if (!counts[l]) return;
        const s = document.createElement('span');
        s.textContent = '\u25a0 ' + name + ' ' + counts[l];
        s.style.color = LEVEL_COLOURS[l];
        spans.push(s);
    });
    legend.replaceChildren(...spans);
}

// An answer of /api/query for params: its records and its end line (why it ended, the cursor after it).
async function query(params) {
    const resp = await fetch('/api/query?' + params.toString(), {headers: headers()});
    const text = await resp.text();
    if (!resp.ok) throw new Error('the server answered ' + resp.status + ': ' + text);
    const events = [];
    let end = null;
    for (const line of text.split('\n')) {
        if (!line) continue;
        const event = parseEvent(line);
        if ('end' in event && !('ts_ns' in event)) end = event;
        else events.push(event);
    }
    return {events, end};
}

// The search shown, for "more": its parameters, and the cursor after what the page holds of it.
let shown = null;

function showAnswer(events, end) {
    for (const event of events) {
        records.push(event);
        addRow(event, false);
    }
    padRows();
    drawHistogram();
    const more = end && end.end !== 'complete' && end.end !== 'error';
    shown.cursor = more ? end.cursor : null;
    moreButton.hidden = !more;
    say(records.length + ' records' + (end ? ' (the answer ended: ' + end.end + (more ? '; more shows the next ' +
        'page' : '') + ')' : ' (the answer was cut short)'), !end || end.end === 'error');
}

async function search() {
    stopTail();
    const params = filters(true);
    params.set('format', 'jsonl');
    say('searching...');
    let answer;
    try {
        answer = await query(params);
    } catch (e) {
        say(String(e.message || e), true);
        return;
    }
    records = [];
    columns = [...LEADING_COLUMNS];
    thead.replaceChildren();
    tbody.replaceChildren();
    detail.hidden = true;
    shown = {params, cursor: null};
    showAnswer(answer.events, answer.end);
    if (tailBox.checked) startTail();
}

// The next page of the search shown, from its cursor, under the rows there.
async function more() {
    if (!shown || !shown.cursor) return;
    const params = new URLSearchParams(shown.params);
    params.set('cursor', shown.cursor);
    moreButton.disabled = true;
    try {
        const answer = await query(params);
        showAnswer(answer.events, answer.end);
    } catch (e) {
        say(String(e.message || e), true);
    } finally {
        moreButton.disabled = false;
    }
}

function stopTail() {
    if (tail) tail.abort();
    tail = null;
}

// One Server-Sent Event's block ("id: ...", "data: ..." lines): its id and data, or null for a comment.
function sseEvent(block) {
    let id = null;
    const data = [];
    for (const line of block.split('\n')) {
        if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        else if (line.startsWith('id:')) id = line.slice(3).trim();
    }
    return data.length ? {id, data: data.join('\n')} : null;
}

// The tail's events as fetch() reads them (an EventSource cannot send the token: it would have to go
// in the URL, and so into logs); after a drop it asks again from the cursor of the last event it showed.
async function startTail() {
    stopTail();
    const controller = new AbortController();
    tail = controller;
    let cursor = null;
    while (tail === controller) {
        const params = filters(false);
        if (cursor) params.set('cursor', cursor);
        try {
            const resp = await fetch('/api/tail?' + params.toString(), {headers: headers(), signal: controller.signal});
            if (!resp.ok) {
                say('live tail: the server answered ' + resp.status + ': ' + (await resp.text()), true);
                tailBox.checked = false;
                if (tail === controller) tail = null;
                return;
            }
            say(records.length + ' records, live tail connected');
            const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
            let pending = '';
            for (;;) {
                const {value, done} = await reader.read();
                if (done) break;
                pending += value;
                let at;
                while ((at = pending.indexOf('\n\n')) >= 0) {
                    const event = sseEvent(pending.slice(0, at));
                    pending = pending.slice(at + 2);
                    if (!event) continue;
                    if (event.id) cursor = event.id;
                    const record = parseEvent(event.data);
                    records.push(record);
                    addRow(record, true);
                    padRows();
                    drawHistogram();
                    say(records.length + ' records, live');
                }
            }
        } catch (e) {
            if (tail !== controller) return; /* stopped: the fetch was aborted */
        }
        if (tail !== controller) return;
        say('live tail: the connection dropped; connecting again', true);
        await new Promise((resolve) => setTimeout(resolve, 1000));
    }
}

form.addEventListener('submit', (e) => {
    e.preventDefault();
    search();
});
moreButton.addEventListener('click', more);
tailBox.addEventListener('change', () => (tailBox.checked ? startTail() : stopTail()));
search();
