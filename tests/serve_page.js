// Drives shmlog-dump serve's search page in Debian's chromium (headless, through playwright-core) and
// checks what it shows against /api/query's answers for the same filters; prints TAP result lines.
// usage: node serve_page.js URL SINCE UNTIL SHOTS_DIR HOSTILE_TEXT TAIL_MARKER AUTH_URL TOKEN
// (AUTH_URL: the same files served with --auth, whose token is TOKEN)
// env: SHMLOG_DIR (where the tail's producer writes), TEST_PRODUCER.
'use strict';
const {execFileSync} = require('child_process');
const fs = require('fs');
const path = require('path');
const {openBrowser} = require(path.join(__dirname, 'browser', 'chromium.js'));

const [url, since, until, shots, hostile, marker, authUrl, token] = process.argv.slice(2);
const COMPARED = ['time', 'level', 'category', 'app', 'pid', 'tid', 'msg'];
let failed = 0;

function result(ok, name, why) {
    console.log((ok ? 'ok - ' : 'not ok - ') + name);
    if (!ok) {
        failed++;
        for (const line of String(why).split('\n').slice(0, 20)) console.log('#   ' + line);
    }
}

async function api(params, from = url, headers = {}) {
    const resp = await fetch(from + '/api/query?' + params.toString(), {headers});
    const lines = (await resp.text()).split('\n').filter((l) => l);
    const end = JSON.parse(lines.pop());
    if (end.end !== 'complete') throw new Error('the API answer ended ' + end.end);
    // ts_ns past 2^53 as its digits, as the page shows it (node's JSON.parse has no source text to keep them)
    return lines.map((l) => Object.assign(JSON.parse(l), /^\{"ts_ns":([0-9]+)/.test(l) ? {ts_ns: l.match(/^\{"ts_ns":([0-9]+)/)[1]} : {}));
}

// The table's rows as {key: cell text} for the compared keys.
async function shownRows(page) {
    return page.$$eval('#records tbody tr', (trs, keys) => trs.map((tr) => {
        const row = {};
        for (const td of tr.cells) if (keys.includes(td.dataset.key)) row[td.dataset.key] = td.textContent;
        return row;
    }), COMPARED);
}

function differences(shown, records) {
    const out = [];
    if (shown.length !== records.length) out.push('the page shows ' + shown.length + ' rows, the API ' + records.length);
    for (let i = 0; i < Math.min(shown.length, records.length) && out.length < 5; i++) {
        for (const k of COMPARED) {
            const want = records[i][k] === undefined ? '' : String(records[i][k]);
            if (shown[i][k] !== want) out.push('row ' + i + ' ' + k + ': page "' + shown[i][k] + '", API "' + want + '"');
        }
    }
    return out;
}

async function search(page, fields) {
    for (const [name, value] of Object.entries(fields)) await page.fill('[name=' + name + ']', value);
    await page.evaluate(() => (document.getElementById('status').textContent = ''));
    await page.click('#run');
    await page.waitForFunction(() => / records/.test(document.getElementById('status').textContent), null,
        {timeout: 30000});
}

async function shot(page, name) {
    const file = path.join(shots, name + '.png');
    await page.screenshot({path: file, fullPage: true});
    console.log('# screenshot: ' + file);
}

async function main() {
    fs.mkdirSync(shots, {recursive: true});
    const browser = await openBrowser();
    try {
        const page = await browser.newPage();
        const problems = [];
        page.on('pageerror', (e) => problems.push('page error: ' + e.message));
        page.on('console', (m) => m.type() === 'error' && problems.push('console: ' + m.text()));
        await page.goto(url + '/');
        await page.waitForFunction(() => / records/.test(document.getElementById('status').textContent));

        // A window's records, as the API answers them for the same window.
        await search(page, {since, until, limit: '100000'});
        const window = await api(new URLSearchParams({since, until}));
        let d = differences(await shownRows(page), window);
        result(window.length >= 50 && !d.length, 'the page shows the window\'s ' + window.length +
            ' records as /api/query answers them', d.join('\n') || 'too few records in the window');
        await shot(page, 'window');

        // "more" pages through the window by the API's cursor: the pages, joined, are the window.
        await search(page, {since, until, limit: '100'});
        let pages = 1;
        while (await page.isVisible('#more') && pages < 50) {
            await page.evaluate(() => (document.getElementById('status').textContent = ''));
            await page.click('#more');
            await page.waitForFunction(() => / records/.test(document.getElementById('status').textContent), null,
                {timeout: 30000});
            pages++;
        }
        d = differences(await shownRows(page), window);
        result(pages >= 3 && !d.length && !(await page.isVisible('#more')),
            'limit 100 and "more" ' + (pages - 1) + ' times: the pages, joined, are the window\'s records',
            d.join('\n') || pages + ' pages');
        await shot(page, 'more');
        await search(page, {limit: '100000'});

        // The histogram's counts by level are those of the records shown.
        const legend = await page.textContent('#legend');
        const infos = window.filter((r) => r.level === 'INFO').length;
        result(legend.includes('INFO ' + infos), 'the histogram counts the window\'s ' + infos + ' INFO records',
            'legend: ' + legend);

        // A field's filter narrows to the API's answer for it.
        await search(page, {where: 'sym=ESZ6'});
        const narrowed = await api(new URLSearchParams({since, until, where: 'sym=ESZ6'}));
        d = differences(await shownRows(page), narrowed);
        result(narrowed.length > 0 && narrowed.length < window.length && !d.length,
            'where sym=ESZ6 narrows the page to the API\'s ' + narrowed.length + ' records', d.join('\n') ||
            'the filter did not narrow');
        await shot(page, 'where');

        // A record's detail: each of its fields, nested ones by their path.
        const n = Math.min(3, narrowed.length - 1);
        await page.click('#records tbody tr:nth-child(' + (n + 1) + ')');
        const detail = await page.$$eval('#detail dd', (dds) => Object.fromEntries(dds.map((dd) => [dd.dataset.key, dd.textContent])));
        const rec = narrowed[n];
        const wrong = ['msg', 'site', 'ts_ns'].concat(Object.keys(rec.fields || {}).map((k) => 'fields.' + k))
            .filter((k) => {
                const v = k.startsWith('fields.') ? rec.fields[k.slice(7)] : rec[k];
                return detail[k] !== String(v);
            });
        result(rec.fields && rec.fields.sym === 'ESZ6' && !wrong.length && await page.isVisible('#detail'),
            'a click shows the record\'s fields (' + Object.keys(detail).length + ') in the detail pane',
            'differ: ' + wrong.join(', ') + '\n' + JSON.stringify(detail));
        await shot(page, 'detail');

        // Markup in a record is text: nothing of it becomes an element, nothing of it runs.
        await page.fill('[name=since]', '');
        await page.fill('[name=until]', '');
        await search(page, {where: '', app: 'hostile'});
        const hostileRows = await api(new URLSearchParams({app: 'hostile'}));
        const msgs = await page.$$eval('#records tbody td[data-key=msg]', (tds) => tds.map((td) => td.textContent)
            .filter((m) => m)); // the producer's exit is a row without a message
        const made = await page.$$eval('#records script, #records img, #records b', (els) => els.length);
        const ran = await page.evaluate(() => window.shmlogPwned);
        result(msgs.length > 0 && msgs.length === hostileRows.filter((r) => r.msg !== undefined).length &&
            msgs.every((m) => m.includes(hostile)) && made === 0 && ran === undefined,
            'a message with <script>, <img onerror> and <b> shows as text: no element made, no script run',
            JSON.stringify({msgs: msgs.slice(0, 2), made, ran}));
        await page.click('#records tbody tr:first-child');
        const detailMade = await page.$$eval('#detail script, #detail img, #detail b', (els) => els.length);
        result(detailMade === 0 && (await page.textContent('#detail')).includes(hostile),
            '  and the detail pane shows it as text too', 'elements made in the detail: ' + detailMade);
        await shot(page, 'hostile');

        // The live tail: a record written after the page loaded arrives in the table.
        await search(page, {app: 'tailmark'});
        await page.check('#tail');
        await page.waitForFunction(() => /live tail connected/.test(document.getElementById('status').textContent),
            null, {timeout: 15000});
        execFileSync(process.env.TEST_PRODUCER, ['--app', 'tailmark', '--count', '1', '--text', marker],
            {stdio: 'ignore'});
        let arrived = true;
        try {
            await page.waitForFunction((m) => [...document.querySelectorAll('#records tbody tr.live td[data-key=msg]')]
                .some((td) => td.textContent.includes(m)), marker, {timeout: 20000});
        } catch (e) {
            arrived = false;
        }
        result(arrived, 'the live tail shows a record written after the page loaded', 'no row with ' + marker);
        await shot(page, 'tail');

        // The server is killed and started again under the live tail: the page connects again from the
        // cursor of the last event it showed, and shows the records written before, while the server was
        // down and after, each once.
        if (process.env.PAGE_RESTART) {
            const rows = (m) => page.$$eval('#records tbody tr.live td[data-key=msg]',
                (tds, m) => tds.map((td) => td.textContent).filter((t) => t.includes(m)), m);
            const write = (m) => execFileSync(process.env.TEST_PRODUCER, ['--app', 'restart', '--threads', '1',
                '--count', '5', '--text', m], {stdio: 'ignore'});
            const waitRows = async (m, n) => {
                try {
                    await page.waitForFunction(([m, n]) => [...document.querySelectorAll(
                        '#records tbody tr.live td[data-key=msg]')].filter((td) => td.textContent.includes(m))
                        .length >= n, [m, n], {timeout: 30000});
                } catch (e) { /* counted below */ }
            };
            await search(page, {app: 'restart'});
            await page.check('#tail');
            await page.waitForFunction(() => /live tail connected/.test(document.getElementById('status').textContent),
                null, {timeout: 15000});
            write(marker + '-before');
            await waitRows(marker + '-before', 5);
            execFileSync(process.env.PAGE_RESTART, ['down'], {stdio: 'ignore'});
            await page.waitForFunction(() => /connection dropped/.test(document.getElementById('status').textContent),
                null, {timeout: 15000});
            await shot(page, 'tail-server-down');
            write(marker + '-down');
            execFileSync(process.env.PAGE_RESTART, ['up'], {stdio: 'ignore'});
            await waitRows(marker + '-down', 5);
            write(marker + '-after');
            await waitRows(marker + '-after', 5);
            await page.waitForTimeout(1500); /* a record sent twice would come by now */
            const counts = [];
            let distinct = true;
            for (const m of ['-before', '-down', '-after']) {
                const got = await rows(marker + m);
                counts.push(got.length);
                distinct = distinct && new Set(got).size === got.length;
            }
            result(counts.every((c) => c === 5) && distinct,
                'the server killed and started again under the live tail: it resumes from its cursor, the ' +
                'records written before, while it was down and after shown once each (' + counts.join(', ') + ')',
                'rows per phase: ' + counts.join(', ') + (distinct ? '' : '; some twice'));
            await shot(page, 'tail-resumed');
            await page.uncheck('#tail');
            /* the fetches refused while the server was down are the browser's console errors, not the page's */
            problems.splice(0, problems.length, ...problems.filter((p) => !/net::ERR_|Failed to load resource/.test(p)));
        }

        // Behind --auth: the page says the server refused, and with the token in its field it searches.
        await page.goto(authUrl + '/');
        await page.waitForFunction(() => /answered 401/.test(document.getElementById('status').textContent));
        problems.splice(0, problems.length, ...problems.filter((p) => !/status of 401/.test(p)));
        await page.fill('[name=token]', token);
        await search(page, {since, until, limit: '100000'});
        const withToken = await api(new URLSearchParams({since, until}), authUrl, {Authorization: 'Bearer ' + token});
        d = differences(await shownRows(page), withToken);
        result(!d.length && withToken.length === window.length,
            'behind --auth the page says 401, and with the token it shows the window\'s records', d.join('\n'));
        await shot(page, 'auth');

        // The live tail behind --auth: fetch() sends the token in its header; no URL holds it.
        const urls = [];
        page.on('request', (r) => urls.push(r.url()));
        const authMarker = marker + '-auth';
        await search(page, {app: 'tailmark', since: '', until: ''});
        await page.check('#tail');
        await page.waitForFunction(() => /live tail connected/.test(document.getElementById('status').textContent),
            null, {timeout: 15000});
        execFileSync(process.env.TEST_PRODUCER, ['--app', 'tailmark', '--count', '1', '--text', authMarker],
            {stdio: 'ignore'});
        arrived = true;
        try {
            await page.waitForFunction((m) => [...document.querySelectorAll('#records tbody tr.live td[data-key=msg]')]
                .some((td) => td.textContent.includes(m)), authMarker, {timeout: 20000});
        } catch (e) {
            arrived = false;
        }
        const leaked = urls.filter((u) => u.includes(token));
        result(arrived && !leaked.length && urls.some((u) => u.includes('/api/tail?')),
            'behind --auth the live tail shows a record written after it connected, the token in no URL',
            arrived ? 'URLs with the token: ' + leaked.join(' ') : 'no row with ' + authMarker);
        await shot(page, 'tail-auth');
        await page.uncheck('#tail');
        result(!problems.length, 'the page ran without errors', problems.join('\n'));
    } finally {
        await browser.closeAndRemove();
    }
}

main().then(() => process.exit(failed ? 1 : 0), (e) => {
    console.log('not ok - the browser run ended early');
    console.log('#   ' + String(e.stack || e).split('\n').slice(0, 10).join('\n#   '));
    process.exit(1);
});
