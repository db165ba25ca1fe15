// bench/serve.sh's search page section: Debian's chromium (headless, playwright-core) on shmlog-dump serve's
// page over a set: the time from a click on "search" until the table shows a 1 ms window's records, the same
// with a field's filter, a record's detail, and the live tail's first row of a record written after it
// connected; a screenshot of each.
// usage: node serve_page.js URL SINCE UNTIL WHERE SHOTS_DIR PRODUCER SEGMENTS_DIR
'use strict';
const {execFileSync} = require('child_process');
const fs = require('fs');
const path = require('path');
const {openBrowser} = require(path.join(__dirname, '..', 'tests', 'browser', 'chromium.js'));

const [url, since, until, where, shots, producer, segments] = process.argv.slice(2);

async function timedSearch(page, fields) {
    for (const [name, value] of Object.entries(fields)) await page.fill('[name=' + name + ']', value);
    await page.evaluate(() => (document.getElementById('status').textContent = ''));
    const t = performance.now();
    await page.click('#run');
    await page.waitForFunction(() => / records/.test(document.getElementById('status').textContent), null,
        {timeout: 60000});
    const ms = performance.now() - t;
    const rows = await page.$$eval('#records tbody tr', (trs) => trs.length);
    return {ms, rows, status: await page.textContent('#status')};
}

async function shot(page, name) {
    const file = path.join(shots, name + '.png');
    await page.screenshot({path: file});
    return file;
}

async function main() {
    fs.mkdirSync(shots, {recursive: true});
    const browser = await openBrowser();
    try {
        const page = await browser.newPage();
        const errors = [];
        page.on('pageerror', (e) => errors.push(e.message));
        let t = performance.now();
        await page.goto(url + '/');
        await page.waitForFunction(() => / records/.test(document.getElementById('status').textContent), null,
            {timeout: 60000});
        console.log('page loaded with its first answer in %s ms', (performance.now() - t).toFixed(0));
        let r = await timedSearch(page, {since, until, limit: '100000'});
        console.log('1 ms window: %d rows shown %s ms after the click (%s); %s', r.rows, r.ms.toFixed(0),
            r.status.trim(), await shot(page, 'window'));
        r = await timedSearch(page, {where});
        console.log('where %s in it: %d rows shown %s ms after the click; %s', where, r.rows, r.ms.toFixed(0),
            await shot(page, 'where'));
        await page.click('#records tbody tr:first-child');
        const fields = await page.$$eval('#detail dd', (dds) => dds.length);
        console.log('a click on the first row: %d fields in the detail pane; %s', fields, await shot(page, 'detail'));

        await page.fill('[name=since]', '');
        await page.fill('[name=until]', '');
        await page.fill('[name=where]', '');
        await timedSearch(page, {app: 'pagetail'});
        await page.check('#tail');
        await page.waitForFunction(() => /live tail connected/.test(document.getElementById('status').textContent),
            null, {timeout: 15000});
        const marker = 'page-tail-' + process.pid;
        t = performance.now();
        execFileSync(producer, ['--app', 'pagetail', '--count', '1', '--text', marker],
            {stdio: 'ignore', env: Object.assign({}, process.env, {SHMLOG_DIR: segments})});
        await page.waitForFunction((m) => [...document.querySelectorAll('#records tbody tr.live td[data-key=msg]')]
            .some((td) => td.textContent.includes(m)), marker, {timeout: 20000});
        console.log('live tail: a record written after it connected shown %s ms after its producer started; %s',
            (performance.now() - t).toFixed(0), await shot(page, 'tail'));
        if (errors.length) console.log('page errors: ' + errors.join('; '));
    } finally {
        await browser.closeAndRemove();
    }
}

main().catch((e) => {
    console.log('the page run failed: ' + e.message);
    process.exitCode = 1;
});
