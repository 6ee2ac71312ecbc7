// The outbound-request guard. Nothing here sends a packet beyond loopback: private, link-local and metadata
// addresses are judged by `decide` or reached only through a resolver the test controls, and every refusal
// is asserted to happen before a connection is opened (the loopback origin counts its connections).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { StorageError } from '../../src/errors.js';
import { OutboundGuard, guardedRequest, type LookupFn, type ResolvedAddress } from '../../src/storage/guard.js';
import { canonicalAddress, classifyAddress } from '../../src/storage/ip-ranges.js';

// --- a loopback origin on 127.0.0.1 and [::1], same port, counting TCP connections -------------------------

interface Origin {
  port: number;
  connections: () => number;
  hits: (path: string) => number;
  /** Request headers last seen on a path. */
  seen: (path: string) => IncomingMessage['headers'] | undefined;
  methods: (path: string) => string[];
  close(): Promise<void>;
}

async function startOrigin(): Promise<Origin> {
  let connections = 0;
  const hits = new Map<string, number>();
  const headers = new Map<string, IncomingMessage['headers']>();
  const methods = new Map<string, string[]>();
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://origin');
    hits.set(url.pathname, (hits.get(url.pathname) ?? 0) + 1);
    headers.set(url.pathname, req.headers);
    methods.set(url.pathname, [...(methods.get(url.pathname) ?? []), req.method ?? '']);
    req.resume();
    req.on('end', () => {
      switch (url.pathname) {
        case '/ok':
          res.writeHead(200, { 'content-type': 'text/plain' }).end('hello');
          return;
        case '/go':
          res.writeHead(Number(url.searchParams.get('status') ?? 302), { location: url.searchParams.get('to') ?? '/' }).end();
          return;
        case '/missing':
          res.writeHead(404).end(Buffer.alloc(100_000, 120));
          return;
        case '/big':
          res.writeHead(200).end(Buffer.alloc(5_000, 1));
          return;
        default:
          res.writeHead(404).end();
      }
    });
  };
  const servers: Server[] = [createServer(handle), createServer(handle)];
  for (const s of servers) s.on('connection', () => connections++);
  await new Promise<void>((r) => servers[0]!.listen(0, '127.0.0.1', r));
  const port = (servers[0]!.address() as AddressInfo).port;
  await new Promise<void>((r, j) => servers[1]!.once('error', j).listen(port, '::1', r));
  return {
    port,
    connections: () => connections,
    hits: (p) => hits.get(p) ?? 0,
    seen: (p) => headers.get(p),
    methods: (p) => methods.get(p) ?? [],
    close: async () => {
      for (const s of servers) s.closeAllConnections();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    },
  };
}

// --- a resolver the test controls ------------------------------------------------------------------------

const v = (address: string): ResolvedAddress => ({ address, family: address.includes(':') ? 6 : 4 });

/** Names that resolve to hostile addresses, and `allowed.test`, allowlisted by name, to the loopback origin. */
const ZONE: Record<string, string[]> = {
  'allowed.test': ['127.0.0.1'],
  'sub.wild.test': ['127.0.0.1'],
  localhost: ['127.0.0.1', '::1'],
  'private.test': ['10.0.0.1'],
  'private172.test': ['172.16.0.9'],
  'private192.test': ['192.168.0.10'],
  'loopback.test': ['127.0.0.1'],
  'loopback6.test': ['::1'],
  'metadata.test': ['169.254.169.254'],
  'metadata6.test': ['fd00:ec2::254'],
  'alibaba.test': ['100.100.100.200'],
  'mapped.test': ['::ffff:127.0.0.1'],
  'mapped-meta.test': ['::ffff:169.254.169.254'],
  'nat64.test': ['64:ff9b::a9fe:a9fe'],
  '6to4.test': ['2002:c0a8:101::1'],
  'ula.test': ['fd12:3456::1'],
  'linklocal6.test': ['fe80::1'],
  'cgnat.test': ['100.64.1.1'],
  'zero.test': ['0.0.0.0'],
  'mcast.test': ['224.0.0.251'],
  'both.test': ['93.184.216.34', '10.0.0.1'],
  'public.test': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
};

function resolver(): { lookup: LookupFn; calls: string[] } {
  const calls: string[] = [];
  const lookup: LookupFn = async (hostname) => {
    calls.push(hostname);
    const answers = ZONE[hostname.replace(/\.$/, '')];
    if (!answers) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return answers.map(v);
  };
  return { lookup, calls };
}

const LIMITS = { maxBytes: 1000, connectTimeoutMs: 1000, totalTimeoutMs: 3000 };

function refusedWith(code: string, check?: (e: StorageError) => void) {
  return (err: unknown) => {
    assert.ok(err instanceof StorageError, `expected a StorageError, got ${String(err)}`);
    assert.equal(err.status, 422);
    assert.equal(err.code, code, err.message);
    assert.equal(err.type, 'storage');
    assert.ok(!/\n\s+at /.test(err.message), 'no stack trace in the message');
    check?.(err);
    return true;
  };
}

// --- the decision function -----------------------------------------------------------------------------------

describe('decide: one address, any spelling', () => {
  const guard = new OutboundGuard({ allowlist: [] });
  const refused: Array<[string, string]> = [
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['2130706433', 'loopback'],
    ['0x7f000001', 'loopback'],
    ['0177.0.0.1', 'loopback'],
    ['0x7f.0.0.1', 'loopback'],
    ['127.1', 'loopback'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:0:7f00:1', 'loopback'],
    ['::127.0.0.1', 'loopback'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['2002:7f00:1::', 'loopback'],
    ['10.0.0.5', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['64:ff9b::10.1.2.3', 'private'],
    ['2002:c0a8:101::1', 'private'],
    ['::ffff:10.0.0.1', 'private'],
    ['169.254.169.254', 'cloud-metadata'],
    ['::ffff:169.254.169.254', 'cloud-metadata'],
    ['fd00:ec2::254', 'cloud-metadata'],
    ['100.100.100.200', 'cloud-metadata'],
    ['168.63.129.16', 'cloud-metadata'],
    ['169.254.1.1', 'link-local'],
    ['fe80::1', 'link-local'],
    ['fe80::1%eth0', 'link-local'],
    ['fc00::1', 'unique-local'],
    ['fd12:3456::1', 'unique-local'],
    ['fec0::1', 'site-local'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['100.64.0.1', 'carrier-grade-nat'],
    ['100.127.255.254', 'carrier-grade-nat'],
    ['198.18.0.1', 'benchmarking'],
    ['198.19.255.255', 'benchmarking'],
    ['192.0.2.1', 'documentation'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['2001:db8::1', 'documentation'],
    ['240.0.0.1', 'reserved'],
    ['192.0.0.170', 'reserved'],
    ['2001::1', 'reserved'],
    ['64:ff9b:1::a00:1', 'reserved'],
    ['100::1', 'reserved'],
    ['::8.8.8.8', 'reserved'],
    ['4000::1', 'reserved'],
    ['not-an-address', 'invalid'],
    ['127.0.0.1@evil.test', 'invalid'],
    ['1.2.3.4/8', 'invalid'],
  ];
  for (const [address, category] of refused) {
    test(`${address} is refused as ${category}`, () => {
      const d = guard.decide(address);
      assert.equal(d.allowed, false);
      if (!d.allowed) {
        assert.equal(d.category, category);
        assert.ok(d.reason.length > 0);
      }
    });
  }

  test('ordinary public addresses are allowed, tunnelled ones only around a public IPv4', () => {
    for (const address of ['8.8.8.8', '93.184.216.34', '1.1.1.1', '100.63.255.255', '100.128.0.1', '172.32.0.1', '2606:4700:4700::1111', '64:ff9b::808:808', '2002:808:808::1', '::ffff:8.8.8.8']) {
      const d = guard.decide(address);
      assert.equal(d.allowed, true, address);
      if (d.allowed) assert.equal(d.allowlisted, false);
    }
  });

  test('reasons name the embedded address and say what it is', () => {
    const d = guard.decide('::ffff:169.254.169.254');
    assert.equal(d.allowed, false);
    if (!d.allowed) {
      assert.match(d.reason, /IPv4-mapped/);
      assert.match(d.reason, /169\.254\.169\.254/);
      assert.match(d.reason, /cloud metadata/);
    }
    assert.deepEqual(classifyAddress({ address: '2002:a9fe:a9fe::', family: 6 })?.embedded, '169.254.169.254');
  });

  test('odd IPv4 spellings canonicalise exactly as a URL host does', () => {
    for (const odd of ['2130706433', '0x7f000001', '0177.0.0.1', '0x7f.0.0.1', '127.1', '0x7f.1', '017700000001', '127.0.0.1.']) {
      assert.equal(canonicalAddress(odd)?.address, '127.0.0.1', odd);
      assert.equal(new URL(`http://${odd}/`).hostname, '127.0.0.1', odd);
    }
    assert.equal(new URL('http://[::ffff:127.0.0.1]/').hostname, '[::ffff:7f00:1]');
    assert.deepEqual(canonicalAddress('[0:0::FFFF:127.0.0.1]'), { address: '::ffff:7f00:1', family: 6 });
    assert.equal(canonicalAddress('evil.test'), null);
    assert.equal(canonicalAddress('1.2.3.4.5'), null);
  });
});

describe('allowlist', () => {
  test('addresses and CIDR ranges exempt the addresses inside them, IPv4-mapped forms included', () => {
    const guard = new OutboundGuard({ allowlist: ['127.0.0.1', ' 10.1.0.0/16 ', 'fd00::/8', '[::1]'] });
    for (const a of ['127.0.0.1', '::ffff:127.0.0.1', '10.1.200.3', 'fd00:ec2::254', '::1', '2130706433']) {
      const d = guard.decide(a);
      assert.equal(d.allowed, true, a);
      if (d.allowed) assert.equal(d.allowlisted, true);
    }
    for (const a of ['127.0.0.2', '10.2.0.1', 'fc00::1', '169.254.169.254']) assert.equal(guard.decide(a).allowed, false, a);
  });

  test('malformed entries fail at start-up rather than allowing something unexpected', () => {
    for (const bad of ['10.0.0.0/33', '10.0.0.0/x', '10.0.0.0/', 'fd00::/129', '10/8', '2130706433', 'not a host', 'http://x/']) {
      assert.throws(() => new OutboundGuard({ allowlist: [bad] }), /ATELIER_URL_ALLOWLIST/, bad);
    }
    assert.doesNotThrow(() => new OutboundGuard({ allowlist: ['', 'Example.COM', '*.example.com', 'bücher.example'] }));
  });

  test('host names match exactly, case-insensitively; *.name matches subdomains only', async () => {
    const { lookup } = resolver();
    const guard = new OutboundGuard({ allowlist: ['ALLOWED.test', '*.wild.test'], lookup });
    assert.equal((await guard.check(new URL('http://allowed.test/'))).allowlisted, true);
    assert.equal((await guard.check(new URL('http://Allowed.Test./'))).allowlisted, true);
    assert.equal((await guard.check(new URL('http://sub.wild.test/'))).allowlisted, true);
    await assert.rejects(guard.check(new URL('http://wild.test/')), refusedWith('fetch_unreachable'));
    await assert.rejects(guard.check(new URL('http://loopback.test/')), refusedWith('url_not_allowed'));
  });
});

describe('check: resolution through a resolver the test controls', () => {
  test('a name is refused when any answer is refused, and the message says which and why', async () => {
    const { lookup } = resolver();
    const guard = new OutboundGuard({ allowlist: [], lookup });
    await assert.rejects(
      guard.check(new URL('http://private.test/a.jpg'), 'input'),
      refusedWith('url_not_allowed', (e) => {
        assert.match(e.message, /^input: requests to "private\.test" are not allowed: it resolves to 10\.0\.0\.1, a private address/);
        assert.deepEqual(
          { field: e.details.field, host: e.details.host, address: e.details.address, category: e.details.category },
          { field: 'input', host: 'private.test', address: '10.0.0.1', category: 'private' },
        );
        assert.equal(typeof e.details.reason, 'string');
      }),
    );
    // One public answer does not excuse a private one.
    await assert.rejects(guard.check(new URL('http://both.test/')), refusedWith('url_not_allowed', (e) => assert.equal(e.details.address, '10.0.0.1')));
    await assert.rejects(guard.check(new URL('http://metadata.test/')), refusedWith('url_not_allowed', (e) => assert.match(e.message, /cloud metadata/)));
  });

  test('a name resolving only to public addresses passes (and nothing is connected to)', async () => {
    const { lookup, calls } = resolver();
    const guard = new OutboundGuard({ allowlist: [], lookup });
    const target = await guard.check(new URL('https://public.test/img.png'));
    assert.deepEqual(target.addresses.map((a) => a.address), ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946']);
    assert.equal(target.allowlisted, false);
    assert.deepEqual(calls, ['public.test']);
  });

  test('a cloud metadata host name is refused without asking DNS', async () => {
    const { lookup, calls } = resolver();
    const guard = new OutboundGuard({ allowlist: [], lookup });
    await assert.rejects(guard.check(new URL('http://metadata.google.internal/computeMetadata/v1/')), refusedWith('url_not_allowed'));
    await assert.rejects(guard.check(new URL('http://METADATA.GOOGLE.INTERNAL./')), refusedWith('url_not_allowed'));
    assert.deepEqual(calls, []);
  });
});

// --- requests: hostile URLs against a loopback origin ------------------------------------------------------

describe('guardedRequest', () => {
  let origin: Origin;
  let P: number;
  before(async () => {
    origin = await startOrigin();
    P = origin.port;
  });
  after(async () => {
    await origin.close();
  });

  test('at least 40 hostile URLs are refused with a clear 4xx before any connection is made', async () => {
    const { lookup, calls } = resolver();
    // Only the name allowed.test is exempt: it resolves to the loopback origin, which serves the redirects.
    const guard = new OutboundGuard({ allowlist: ['allowed.test'], lookup });
    const go = (to: string, status = 302) => `http://allowed.test:${P}/go?status=${status}&to=${encodeURIComponent(to)}`;
    const hostile: Array<[url: string, code: string]> = [
      // literal addresses, every spelling
      [`http://127.0.0.1:${P}/ok`, 'url_not_allowed'],
      [`http://127.0.0.1.:${P}/ok`, 'url_not_allowed'],
      [`http://2130706433:${P}/ok`, 'url_not_allowed'],
      [`http://0x7f000001:${P}/ok`, 'url_not_allowed'],
      [`http://0177.0.0.1:${P}/ok`, 'url_not_allowed'],
      [`http://0x7f.0.0.1:${P}/ok`, 'url_not_allowed'],
      [`http://127.1:${P}/ok`, 'url_not_allowed'],
      [`http://[::1]:${P}/ok`, 'url_not_allowed'],
      [`http://[0:0:0:0:0:0:0:1]:${P}/ok`, 'url_not_allowed'],
      [`http://[::ffff:127.0.0.1]:${P}/ok`, 'url_not_allowed'],
      [`http://[::ffff:7f00:1]:${P}/ok`, 'url_not_allowed'],
      [`http://[::127.0.0.1]:${P}/ok`, 'url_not_allowed'],
      ['http://10.0.0.1/', 'url_not_allowed'],
      ['http://172.16.5.4/', 'url_not_allowed'],
      ['http://192.168.1.1/admin', 'url_not_allowed'],
      ['http://169.254.169.254/latest/meta-data/', 'url_not_allowed'],
      ['http://[fd00:ec2::254]/latest/meta-data/', 'url_not_allowed'],
      ['http://100.100.100.200/latest/meta-data/', 'url_not_allowed'],
      ['http://[fe80::1]/', 'url_not_allowed'],
      ['http://[fd12:3456::1]/', 'url_not_allowed'],
      ['http://224.0.0.1/', 'url_not_allowed'],
      ['http://[ff02::1]/', 'url_not_allowed'],
      ['http://255.255.255.255/', 'url_not_allowed'],
      ['http://0.0.0.0/', 'url_not_allowed'],
      ['http://0/', 'url_not_allowed'],
      ['http://[::]/', 'url_not_allowed'],
      ['http://100.64.0.1/', 'url_not_allowed'],
      ['http://198.18.0.1/', 'url_not_allowed'],
      ['http://240.0.0.1/', 'url_not_allowed'],
      ['http://[64:ff9b::10.0.0.1]/', 'url_not_allowed'],
      ['http://[2002:a9fe:a9fe::]/', 'url_not_allowed'],
      ['http://[2001::1]/', 'url_not_allowed'],
      ['http://metadata.google.internal/computeMetadata/v1/', 'url_not_allowed'],
      [`http://user:secret@allowed.test:${P}/ok`, 'url_not_allowed'],
      ['file:///etc/passwd', 'unsupported_url_scheme'],
      ['gopher://127.0.0.1:6379/_INFO', 'unsupported_url_scheme'],
      // names that resolve to hostile addresses
      [`http://localhost:${P}/ok`, 'url_not_allowed'],
      [`http://loopback.test:${P}/ok`, 'url_not_allowed'],
      [`http://loopback6.test:${P}/ok`, 'url_not_allowed'],
      [`http://mapped.test:${P}/ok`, 'url_not_allowed'],
      ['http://private.test/', 'url_not_allowed'],
      ['http://private172.test/', 'url_not_allowed'],
      ['http://private192.test/', 'url_not_allowed'],
      ['http://metadata.test/latest/meta-data/', 'url_not_allowed'],
      ['http://metadata6.test/', 'url_not_allowed'],
      ['http://alibaba.test/', 'url_not_allowed'],
      ['http://mapped-meta.test/', 'url_not_allowed'],
      ['http://nat64.test/', 'url_not_allowed'],
      ['https://6to4.test/', 'url_not_allowed'],
      ['http://ula.test/', 'url_not_allowed'],
      ['http://linklocal6.test/', 'url_not_allowed'],
      ['http://cgnat.test/', 'url_not_allowed'],
      ['http://zero.test/', 'url_not_allowed'],
      ['http://mcast.test/', 'url_not_allowed'],
      ['http://both.test/', 'url_not_allowed'],
    ];
    // redirects from the allowed origin to each kind of target
    const redirects: Array<[url: string, code: string]> = [
      [go(`http://127.0.0.1:${P}/ok`), 'url_not_allowed'],
      [go(`http://[::1]:${P}/ok`), 'url_not_allowed'],
      [go(`http://2130706433:${P}/ok`), 'url_not_allowed'],
      [go(`http://0x7f.1:${P}/ok`), 'url_not_allowed'],
      [go(`http://[::ffff:127.0.0.1]:${P}/ok`), 'url_not_allowed'],
      [go(`//127.0.0.1:${P}/ok`, 301), 'url_not_allowed'],
      [go(`http://localhost:${P}/ok`, 307), 'url_not_allowed'],
      [go(`http://loopback.test:${P}/ok`, 308), 'url_not_allowed'],
      [go('http://169.254.169.254/latest/meta-data/iam/', 303), 'url_not_allowed'],
      [go('http://metadata.test/'), 'url_not_allowed'],
      [go('http://metadata.google.internal/'), 'url_not_allowed'],
      [go('http://private.test/'), 'url_not_allowed'],
      [go(`http://user:pw@allowed.test:${P}/ok`), 'url_not_allowed'],
      [go('file:///etc/passwd'), 'unsupported_url_scheme'],
      [go('http://[::1'), 'invalid_url'],
    ];
    assert.ok(hostile.length + redirects.length >= 40);

    for (const [url, code] of hostile) {
      await assert.rejects(guardedRequest(guard, new URL(url), { ...LIMITS, field: 'input' }), refusedWith(code), url);
    }
    assert.equal(origin.connections(), 0, 'no hostile URL reached the origin');
    // Literal addresses, metadata names and schemes never got as far as DNS.
    assert.ok(calls.every((n) => n.endsWith('.test') || n === 'localhost'), calls.join());

    for (const [url, code] of redirects) {
      await assert.rejects(guardedRequest(guard, new URL(url), { ...LIMITS, field: 'input' }), refusedWith(code), url);
    }
    assert.equal(origin.hits('/go'), redirects.length, 'each redirect was served by the allowed origin');
    assert.equal(origin.hits('/ok'), 0, 'no redirect target was requested');
    await guard.close();
  });

  test('the refusal message and details name the field, host, address and reason', async () => {
    const { lookup } = resolver();
    const guard = new OutboundGuard({ allowlist: ['allowed.test'], lookup });
    await assert.rejects(
      guardedRequest(guard, new URL(`http://allowed.test:${P}/go?to=${encodeURIComponent('http://169.254.169.254/')}`), {
        ...LIMITS,
        field: 'style_reference',
      }),
      refusedWith('url_not_allowed', (e) => {
        assert.equal(
          e.message,
          'style_reference: requests to "169.254.169.254" are not allowed: it is a link-local address (cloud metadata). ' +
            'An operator can exempt hosts and networks with ATELIER_URL_ALLOWLIST.',
        );
        assert.deepEqual(e.details, {
          field: 'style_reference',
          host: '169.254.169.254',
          address: '169.254.169.254',
          reason: 'a link-local address (cloud metadata)',
          category: 'cloud-metadata',
        });
      }),
    );
    await guard.close();
  });

  test('loopback in every spelling is allowed once the operator allowlists it', async () => {
    const guard = new OutboundGuard({ allowlist: ['127.0.0.1', '::1', 'localhost'] });
    for (const host of ['127.0.0.1', '[::1]', 'localhost', '2130706433', '0x7f000001', '127.1', '0177.0.0.1', '[::ffff:127.0.0.1]']) {
      const res = await guardedRequest(guard, new URL(`http://${host}:${P}/ok`), LIMITS);
      assert.equal(res.status, 200, host);
      assert.equal(res.body.toString(), 'hello');
    }
    // A different loopback address is still refused: the entry is one address, not the range.
    await assert.rejects(guardedRequest(guard, new URL(`http://127.0.0.2:${P}/ok`), LIMITS), refusedWith('url_not_allowed'));
    await guard.close();
  });

  test('a name is allowed when every address it resolves to is allowlisted, and a CIDR covers a range', async () => {
    const { lookup } = resolver();
    const guard = new OutboundGuard({ allowlist: ['127.0.0.0/8', '::1/128'], lookup });
    assert.equal((await guardedRequest(guard, new URL(`http://loopback.test:${P}/ok`), LIMITS)).status, 200);
    assert.equal((await guardedRequest(guard, new URL(`http://localhost:${P}/ok`), LIMITS)).status, 200);
    // Inside the range, so the guard lets it through to connect; nothing listens there, so the socket says so.
    assert.equal(guard.decide('127.9.9.9').allowed, true);
    await assert.rejects(
      guardedRequest(guard, new URL(`http://127.9.9.9:${P}/ok`), LIMITS),
      refusedWith('fetch_unreachable', (e) => assert.equal(e.details.cause, 'ECONNREFUSED')),
    );
    await guard.close();
  });

  test('one refused answer refuses the name even when another answer is allowlisted; no connection is made', async () => {
    const lookup: LookupFn = async () => [v('127.0.0.1'), v('10.0.0.1')];
    const guard = new OutboundGuard({ allowlist: ['127.0.0.1'], lookup });
    const before = origin.connections();
    await assert.rejects(
      guardedRequest(guard, new URL(`http://mixed.test:${P}/ok`), LIMITS),
      refusedWith('url_not_allowed', (e) => assert.equal(e.details.address, '10.0.0.1')),
    );
    assert.equal(origin.connections(), before);
    await guard.close();
  });

  test('DNS rebinding: the connection uses the answer that was checked, and a later answer is checked again', async () => {
    let calls = 0;
    // First answer: the allowlisted loopback origin. Every later one: a private address.
    const lookup: LookupFn = async () => (calls++ === 0 ? [v('127.0.0.1')] : [v('10.0.0.1')]);
    const guard = new OutboundGuard({ allowlist: ['127.0.0.1'], lookup });
    const res = await guardedRequest(guard, new URL(`http://rebind.test:${P}/ok`), LIMITS);
    assert.equal(res.status, 200);
    assert.equal(calls, 1, 'resolved once per connection: no check-then-resolve-again gap');
    assert.equal(origin.seen('/ok')?.host, `rebind.test:${P}`, 'the Host header keeps the name');
    const fresh = guard.dispatcher({ connectTimeoutMs: 1000 });
    const before = origin.connections();
    await assert.rejects(
      guardedRequest(guard, new URL(`http://rebind.test:${P}/ok`), { ...LIMITS, dispatcher: fresh }),
      refusedWith('url_not_allowed', (e) => assert.equal(e.details.address, '10.0.0.1')),
    );
    assert.equal(origin.connections(), before);
    await fresh.close();
    await guard.close();
  });

  test('the dispatcher alone refuses literal addresses and hostile names, even without guardedRequest', async () => {
    const { lookup } = resolver();
    const guard = new OutboundGuard({ allowlist: [], lookup });
    const dispatcher = guard.dispatcher({ connectTimeoutMs: 1000 });
    const before = origin.connections();
    for (const url of [`http://127.0.0.1:${P}/ok`, `http://[::1]:${P}/ok`, `http://loopback.test:${P}/ok`]) {
      await assert.rejects(request(url, { dispatcher }), (err: Error) => err.name === 'GuardRefusal' || (err.cause as Error)?.name === 'GuardRefusal');
    }
    assert.equal(origin.connections(), before);
    await dispatcher.close();
  });

  test('redirects: limit, 303 turns a POST into a GET, 307 keeps it, credentials stay on their origin', async () => {
    const { lookup } = resolver();
    const guard = new OutboundGuard({ allowlist: ['127.0.0.1', 'allowed.test'], lookup });
    const base = `http://127.0.0.1:${P}`;
    const hop = (to: string, status = 302) => `${base}/go?status=${status}&to=${encodeURIComponent(to)}`;

    await assert.rejects(
      guardedRequest(guard, new URL(hop('/ok')), { ...LIMITS, maxRedirects: 0, method: 'POST', body: '{}' }),
      refusedWith('too_many_redirects'),
    );
    const chain = hop(hop(hop('/ok')));
    assert.equal((await guardedRequest(guard, new URL(chain), { ...LIMITS, maxRedirects: 3 })).status, 200);
    await assert.rejects(guardedRequest(guard, new URL(chain), { ...LIMITS, maxRedirects: 2 }), refusedWith('too_many_redirects'));

    const before = origin.methods('/ok').length;
    await guardedRequest(guard, new URL(hop('/ok', 303)), { ...LIMITS, method: 'POST', body: 'x', headers: { 'content-type': 'text/plain' } });
    await guardedRequest(guard, new URL(hop('/ok', 307)), { ...LIMITS, method: 'POST', body: 'x' });
    assert.deepEqual(origin.methods('/ok').slice(before), ['GET', 'POST']);

    const res = await guardedRequest(guard, new URL(hop(`http://allowed.test:${P}/ok`)), {
      ...LIMITS,
      headers: { Authorization: 'Bearer secret', 'x-custom': 'kept' },
    });
    assert.equal(res.url, `http://allowed.test:${P}/ok`);
    assert.equal(origin.seen('/ok')?.authorization, undefined, 'authorization dropped on a cross-origin redirect');
    assert.equal(origin.seen('/ok')?.['x-custom'], 'kept');
    await guardedRequest(guard, new URL(hop('/ok')), { ...LIMITS, headers: { authorization: 'Bearer secret' } });
    assert.equal(origin.seen('/ok')?.authorization, 'Bearer secret', 'kept on a same-origin redirect');
    await guard.close();
  });

  test('byte caps: a 2xx body over the cap is refused, an error body is cut and returned', async () => {
    const guard = new OutboundGuard({ allowlist: ['127.0.0.1'] });
    await assert.rejects(
      guardedRequest(guard, new URL(`http://127.0.0.1:${P}/big`), LIMITS),
      refusedWith('response_too_large', (e) => assert.equal(e.details.max_bytes, 1000)),
    );
    const res = await guardedRequest(guard, new URL(`http://127.0.0.1:${P}/missing`), { ...LIMITS, maxBytes: 1_000_000 });
    assert.equal(res.status, 404);
    assert.equal(res.body.length, 64 * 1024);
    assert.equal(res.truncated, true);
    await guard.close();
  });

  test('a name that does not resolve is fetch_unreachable with the resolver error code', async () => {
    const { lookup } = resolver();
    const guard = new OutboundGuard({ allowlist: [], lookup });
    await assert.rejects(
      guardedRequest(guard, new URL('http://nowhere.test/'), LIMITS),
      refusedWith('fetch_unreachable', (e) => assert.equal(e.details.cause, 'ENOTFOUND')),
    );
    await guard.close();
  });
});
