// Debian's chromium, headless, through playwright-core, as the page's test and bench/serve.sh drive it.
'use strict';
const {chromium} = require('playwright-core');
const fs = require('fs');
const os = require('os');
const path = require('path');

// A browser context on a fresh profile (playwright passes it as --user-data-dir), removed by close();
// without the background-networking flags chromium's own connections are refused on a closed network.
async function openBrowser() {
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'shmlog-chromium-'));
    const browser = await chromium.launchPersistentContext(profile, {
        executablePath: '/usr/bin/chromium',
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: {width: 1600, height: 1000},
    });
    browser.closeAndRemove = async () => {
        await browser.close();
        fs.rmSync(profile, {recursive: true, force: true});
    };
    return browser;
}

module.exports = {openBrowser};
