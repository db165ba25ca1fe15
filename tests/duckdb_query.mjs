// duckdb_query.mjs - runs SQL in DuckDB (the npm package @duckdb/node-api, which
// tools/setup.sh installs) and prints the result rows as JSON Lines: one object
// per row, its keys the column names in order. The tests use it to query what
// `shmlog-dump read --format json` prints.
//
//   node duckdb_query.mjs SQL
//   node duckdb_query.mjs -f FILE      the SQL in FILE
//
// Several statements may be given; the rows are those of the last one. The
// database is in memory and the current directory is where relative paths in
// the SQL start.
//
// Values are exact, so that a test can compare them with numbers it computed
// itself: integers of any width (BIGINT, UBIGINT, HUGEINT: ts_ns is ~1.8e18,
// past 2^53) are bare JSON numbers with all their digits, not doubles; DOUBLE
// and FLOAT are the shortest text that reads back to the same double, with a
// ".0" when integral (so a reader still sees a float), and NaN and infinities
// as strings; DECIMAL, dates, times and timestamps are DuckDB's text for them
// (strings, nanoseconds kept); NULL is null.
//
//   SHMLOG_DUCKDB_NODE  the node_modules directory holding @duckdb/node-api
//                       (default /opt/shmlog-test/duckdb/node_modules, where
//                       tools/setup.sh puts it)
//
// Exit status: 0, 1 when DuckDB or its package fails (the message on stderr),
// 2 on a usage error.
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

const modules = process.env.SHMLOG_DUCKDB_NODE || '/opt/shmlog-test/duckdb/node_modules';

function fail(status, message) {
    process.stderr.write(`duckdb_query: ${message}\n`);
    process.exit(status);
}

const args = process.argv.slice(2);
let sql;
if (args.length === 2 && args[0] === '-f') {
    try {
        sql = readFileSync(args[1], 'utf8');
    } catch (e) {
        fail(2, `cannot read ${args[1]}: ${e.message}`);
    }
} else if (args.length === 1 && args[0] !== '-f' && args[0] !== '') {
    sql = args[0];
} else {
    fail(2, 'usage: node duckdb_query.mjs SQL | -f FILE');
}

// Only this directory: a copy somewhere up the tree or in a global prefix is
// not the pinned version the setup installed.
const pkg = join(modules, '@duckdb', 'node-api');
if (!existsSync(join(pkg, 'package.json')))
    fail(1, `@duckdb/node-api is not in ${modules}: run tools/setup.sh as root (or set SHMLOG_DUCKDB_NODE)`);
let duckdb;
try {
    duckdb = createRequire(import.meta.url)(pkg);
} catch (e) {
    fail(1, `cannot load @duckdb/node-api from ${modules}: ${e.message}`);
}
const { DuckDBInstance, DuckDBTypeId } = duckdb;

const bigIntegers = new Set([DuckDBTypeId.BIGINT, DuckDBTypeId.UBIGINT, DuckDBTypeId.HUGEINT, DuckDBTypeId.UHUGEINT]);
const floats = new Set([DuckDBTypeId.FLOAT, DuckDBTypeId.DOUBLE]);

// One value as JSON text, from its JSON form (getRowObjectsJson: wide integers
// as digit strings, doubles as numbers, the rest as DuckDB's exact text) and
// its column type.
function encode(value, type) {
    if (value === null || value === undefined)
        return 'null';
    const id = type.typeId;
    if (bigIntegers.has(id) && typeof value === 'string' && /^-?[0-9]+$/.test(value))
        return value;
    if (floats.has(id) && typeof value === 'number') {
        const text = JSON.stringify(value);
        return /^-?[0-9]+$/.test(text) ? text + '.0' : text;
    }
    if ((id === DuckDBTypeId.LIST || id === DuckDBTypeId.ARRAY) && Array.isArray(value))
        return '[' + value.map((v) => encode(v, type.valueType)).join(',') + ']';
    if (id === DuckDBTypeId.STRUCT && typeof value === 'object' && !Array.isArray(value))
        return '{' + type.entryNames.map((name, i) =>
            JSON.stringify(name) + ':' + encode(value[name], type.entryTypes[i])).join(',') + '}';
    return JSON.stringify(value);
}

try {
    // Nothing is fetched: an extension that is not built in fails the query.
    const instance = await DuckDBInstance.create(':memory:', { autoinstall_known_extensions: 'false' });
    const connection = await instance.connect();
    const result = await connection.runAndReadAll(sql);
    const names = result.columnNames();
    const types = result.columnTypes();
    const lines = [];
    for (const row of result.getRowsJson())
        lines.push('{' + row.map((v, i) => JSON.stringify(names[i]) + ':' + encode(v, types[i])).join(',') + '}\n');
    process.stdout.write(lines.join(''));
    connection.closeSync();
    instance.closeSync();
} catch (e) {
    fail(1, e.message.replace(/\n+/g, ' | '));
}
