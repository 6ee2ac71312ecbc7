// Address maths for the outbound-request guard: which IP addresses a server-side request must never reach.
// Pure functions over strings; no DNS, no sockets. Range membership uses Node's BlockList; ipaddr.js only
// splits an IPv6 address into its 16-bit groups so an IPv4 address tunnelled inside one can be judged too.
import { BlockList, isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

export type AddressFamily = 4 | 6;

export interface CanonicalAddress {
  /** Dotted quad, or compressed lower-case IPv6 without brackets or zone. */
  address: string;
  family: AddressFamily;
}

export type AddressCategory =
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unique-local'
  | 'site-local'
  | 'multicast'
  | 'broadcast'
  | 'unspecified'
  | 'carrier-grade-nat'
  | 'cloud-metadata'
  | 'benchmarking'
  | 'documentation'
  | 'reserved';

/** Why an address is off limits. */
export interface AddressClass {
  category: AddressCategory;
  /** A noun phrase for messages: "a private address (RFC 1918)", "a link-local address (cloud metadata)". */
  label: string;
  /** The IPv4 address an IPv6 address carries (mapped, NAT64, 6to4), when that is what was judged. */
  embedded?: string;
}

// Characters any spelling of an address can use. Checked first so that the URL parser below, used only for
// its host parser, cannot be steered by '@', '/', '#' or '?' into reading a different host.
const ADDRESS_CHARS = /^[0-9a-fA-FxX.:]+$/;

/**
 * The canonical form of an IP address written any way a URL host or `inet_aton` accepts (decimal
 * `2130706433`, octal `0177.0.0.1`, hex `0x7f.0.0.1`, short `127.1`, bracketed or zoned IPv6), or null when
 * `input` is not an address. The WHATWG host parser does the IPv4 work, so this agrees with `new URL()`.
 */
export function canonicalAddress(input: string): CanonicalAddress | null {
  let s = input.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const zone = s.indexOf('%');
  if (zone > 0 && s.includes(':')) s = s.slice(0, zone);
  if (!ADDRESS_CHARS.test(s)) return null;
  let host: string;
  try {
    host = new URL(`http://${s.includes(':') ? `[${s}]` : s}/`).hostname;
  } catch {
    return null;
  }
  if (host.startsWith('[')) return { address: host.slice(1, -1), family: 6 };
  return isIP(host) === 4 ? { address: host, family: 4 } : null;
}

interface Range {
  list: BlockList;
  category: AddressCategory;
  label: string;
}

function ranges(family: 'ipv4' | 'ipv6', rows: Array<[string, AddressCategory, string]>): Range[] {
  return rows.map(([cidr, category, label]) => {
    const [network, bits] = cidr.split('/') as [string, string];
    const list = new BlockList();
    list.addSubnet(network, Number(bits), family);
    return { list, category, label };
  });
}

// First match wins, so single cloud-metadata addresses come before the ranges that contain them.
const V4_RANGES = ranges('ipv4', [
  ['169.254.169.254/32', 'cloud-metadata', 'a link-local address (cloud metadata)'],
  ['100.100.100.200/32', 'cloud-metadata', 'a carrier-grade NAT address (Alibaba Cloud metadata)'],
  ['168.63.129.16/32', 'cloud-metadata', 'the Azure platform address (WireServer, cloud metadata)'],
  ['255.255.255.255/32', 'broadcast', 'the broadcast address'],
  ['0.0.0.0/8', 'unspecified', 'an unspecified address ("this network", 0.0.0.0/8)'],
  ['10.0.0.0/8', 'private', 'a private address (RFC 1918)'],
  ['100.64.0.0/10', 'carrier-grade-nat', 'a carrier-grade NAT address (100.64.0.0/10)'],
  ['127.0.0.0/8', 'loopback', 'a loopback address'],
  ['169.254.0.0/16', 'link-local', 'a link-local address'],
  ['172.16.0.0/12', 'private', 'a private address (RFC 1918)'],
  ['192.0.0.0/24', 'reserved', 'a reserved address (IETF protocol assignments, 192.0.0.0/24)'],
  ['192.0.2.0/24', 'documentation', 'a documentation address (192.0.2.0/24)'],
  ['192.88.99.0/24', 'reserved', 'a reserved address (6to4 relay anycast, 192.88.99.0/24)'],
  ['192.168.0.0/16', 'private', 'a private address (RFC 1918)'],
  ['198.18.0.0/15', 'benchmarking', 'a benchmarking address (198.18.0.0/15)'],
  ['198.51.100.0/24', 'documentation', 'a documentation address (198.51.100.0/24)'],
  ['203.0.113.0/24', 'documentation', 'a documentation address (203.0.113.0/24)'],
  ['224.0.0.0/4', 'multicast', 'a multicast address'],
  ['240.0.0.0/4', 'reserved', 'a reserved address (240.0.0.0/4)'],
]);

const V6_RANGES = ranges('ipv6', [
  ['::/128', 'unspecified', 'the unspecified address (::)'],
  ['::1/128', 'loopback', 'a loopback address'],
  ['fd00:ec2::254/128', 'cloud-metadata', 'a unique-local address (AWS cloud metadata)'],
  ['64:ff9b:1::/48', 'reserved', 'a reserved address (local-use NAT64, 64:ff9b:1::/48)'],
  ['100::/64', 'reserved', 'a reserved address (discard-only, 100::/64)'],
  // Teredo relays reach whatever the tunnelled address says; no web server needs to be reached this way.
  ['2001::/32', 'reserved', 'a reserved address (Teredo tunnel, 2001::/32)'],
  ['2001:10::/28', 'reserved', 'a reserved address (ORCHID, 2001:10::/28)'],
  ['2001:20::/28', 'reserved', 'a reserved address (ORCHIDv2, 2001:20::/28)'],
  ['2001:db8::/32', 'documentation', 'a documentation address (2001:db8::/32)'],
  ['3fff::/20', 'documentation', 'a documentation address (3fff::/20)'],
  ['fc00::/7', 'unique-local', 'a unique-local address (fc00::/7)'],
  ['fe80::/10', 'link-local', 'a link-local address'],
  ['fec0::/10', 'site-local', 'a site-local address (deprecated, fec0::/10)'],
  ['ff00::/8', 'multicast', 'a multicast address'],
]);

/** IPv6 prefixes that carry an IPv4 address; `at` is the index of its first 16-bit group. */
const EMBEDDING: Array<{ range: Range; at: number }> = [
  { range: ranges('ipv6', [['::ffff:0:0/96', 'reserved', 'an IPv4-mapped IPv6 address']])[0]!, at: 6 },
  { range: ranges('ipv6', [['::ffff:0:0:0/96', 'reserved', 'an IPv4-translated IPv6 address (SIIT)']])[0]!, at: 6 },
  { range: ranges('ipv6', [['64:ff9b::/96', 'reserved', 'a NAT64 IPv6 address (64:ff9b::/96)']])[0]!, at: 6 },
  { range: ranges('ipv6', [['2002::/16', 'reserved', 'a 6to4 IPv6 address (2002::/16)']])[0]!, at: 1 },
  // Deprecated since 2006 and routed nowhere; refused even around a public IPv4 address (see below).
  { range: ranges('ipv6', [['::/96', 'reserved', 'an IPv4-compatible IPv6 address (deprecated)']])[0]!, at: 6 },
];
const IPV4_COMPATIBLE = EMBEDDING[EMBEDDING.length - 1]!.range;

const GLOBAL_UNICAST_V6 = new BlockList();
GLOBAL_UNICAST_V6.addSubnet('2000::', 3, 'ipv6');

/** The IPv4 address held in groups `at` and `at + 1` of an IPv6 address. */
export function embeddedIPv4(address: string, at: number): string {
  const parts = ipaddr.IPv6.parse(address).parts;
  const hi = parts[at] ?? 0;
  const lo = parts[at + 1] ?? 0;
  return [hi >> 8, hi & 0xff, lo >> 8, lo & 0xff].join('.');
}

/**
 * Why a canonical address must not be reached from the server, or null when it is an ordinary public
 * address. Ignores any allowlist: that is the guard's business.
 */
export function classifyAddress(addr: CanonicalAddress): AddressClass | null {
  if (addr.family === 4) {
    const hit = V4_RANGES.find((r) => r.list.check(addr.address, 'ipv4'));
    return hit ? { category: hit.category, label: hit.label } : null;
  }
  // :: and ::1 sit inside ::/96 (IPv4-compatible) but mean themselves.
  const own = V6_RANGES.slice(0, 2).find((r) => r.list.check(addr.address, 'ipv6'));
  if (own) return { category: own.category, label: own.label };
  for (const { range, at } of EMBEDDING) {
    if (!range.list.check(addr.address, 'ipv6')) continue;
    const v4 = embeddedIPv4(addr.address, at);
    const inner = classifyAddress({ address: v4, family: 4 });
    if (inner) return { category: inner.category, label: `${range.label} embedding ${v4}, ${inner.label}`, embedded: v4 };
    if (range === IPV4_COMPATIBLE) return { category: 'reserved', label: range.label, embedded: v4 };
    return null;
  }
  const hit = V6_RANGES.find((r) => r.list.check(addr.address, 'ipv6'));
  if (hit) return { category: hit.category, label: hit.label };
  if (!GLOBAL_UNICAST_V6.check(addr.address, 'ipv6')) {
    return { category: 'reserved', label: 'a reserved address (outside global unicast, 2000::/3)' };
  }
  return null;
}

/** An allowlist of addresses and CIDR ranges; IPv4 rules also cover their IPv4-mapped IPv6 forms. */
export class AddressSet {
  private readonly list = new BlockList();
  private count = 0;

  /**
   * Adds `10.0.0.0/8`, `fd00::/8`, `127.0.0.1`, `::1` or `[::1]`; throws on anything else. Only standard
   * notation: in configuration, `10/8` or `2130706433` is more likely a mistake than a wish.
   */
  add(entry: string): void {
    const slash = entry.indexOf('/');
    const network = (slash < 0 ? entry : entry.slice(0, slash)).replace(/^\[(.*)\]$/, '$1');
    const addr = isIP(network) ? canonicalAddress(network) : null;
    if (!addr) throw new Error(`"${entry}" is not an IP address or CIDR range`);
    const type = addr.family === 4 ? 'ipv4' : 'ipv6';
    if (slash < 0) {
      this.list.addAddress(addr.address, type);
    } else {
      const bitsText = entry.slice(slash + 1);
      const bits = Number(bitsText);
      const max = addr.family === 4 ? 32 : 128;
      if (!/^\d{1,3}$/.test(bitsText) || bits > max) throw new Error(`"${entry}" has an invalid prefix length`);
      this.list.addSubnet(addr.address, bits, type);
    }
    this.count++;
  }

  has(addr: CanonicalAddress): boolean {
    return this.count > 0 && this.list.check(addr.address, addr.family === 4 ? 'ipv4' : 'ipv6');
  }

  get size(): number {
    return this.count;
  }
}
