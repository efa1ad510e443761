import type { Cluster } from 'ioredis';
import type { RedisClient } from './redis-client';
import type { Metrics } from '../metrics';
import { allEpochKeys, epochKeyFor, epochKeysOfSlots } from './epoch-keys';
import { LuaScript } from './lua-script';
import { masters, oneSlotPerMaster, perKeyPipelined } from './redis-client';
import { StateUnavailable, type BeginResult, type EpochRead, type InvoiceKeys, type ReserveResult, type SharedState } from './shared-state';

const DELETE_IF_EQUALS = new LuaScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`, 1);

const REPLACE_IF_EQUALS_OR_ABSENT = new LuaScript(
  `local current = redis.call('GET', KEYS[1])
if current == ARGV[2] then return 'unchanged' end
if current and current ~= ARGV[1] then return 'other' end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
if current then return 'replaced' end
return 'created'`,
  1,
);

const RESTORE_HOLD = new LuaScript(
  `local current = redis.call('GET', KEYS[1])
if current then
  local ok, decoded = pcall(cjson.decode, current)
  if not ok or decoded.state ~= 'pending' then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`,
  1,
);

const REPLACE_IF_EQUALS_KEEPING_TTL = new LuaScript(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL') return 1 end return 0`,
  1,
);

/** KEYS: counter. ARGV: delta, ttl for a counter this creates. */
const ADD_TO_COUNTER = new LuaScript(
  `local value = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return value`,
  1,
);

/** The epoch check every gate script starts with: an empty ARGV means "not known yet, skip". */
const EPOCH_CHECK = `local epoch = redis.call('GET', KEYS[#KEYS])
if ARGV[#ARGV] ~= '' and epoch ~= ARGV[#ARGV] then
  if epoch then return {'epoch_lost', epoch} end
  return {'epoch_lost'}
end`;

/** KEYS: record, epoch. ARGV: value, ttl, epoch. */
const RESERVE = new LuaScript(
  `${EPOCH_CHECK}
local current = redis.call('GET', KEYS[1])
if current then return {'exists', current} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {'created'}`,
  2,
);

/** KEYS: lock, hold, epoch. ARGV: owner, lock ttl, pending hold ('' for none), hold ttl, epoch. */
const BEGIN_INVOICE_PAY = new LuaScript(
  `${EPOCH_CHECK}
if redis.call('EXISTS', KEYS[1]) == 1 then return {'locked'} end
local hold = redis.call('GET', KEYS[2])
if hold then return {'held', hold} end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[3] ~= '' then redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4]) end
return {'begun'}`,
  3,
);

/** KEYS: lock, hold. ARGV: owner, payment id, unknown-outcome hold ('' for a known outcome), hold ttl. */
const SETTLE_INVOICE_PAY = new LuaScript(
  `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
  return 1
end
local hold = redis.call('GET', KEYS[2])
if hold then
  local ok, decoded = pcall(cjson.decode, hold)
  if ok and decoded.payment == ARGV[2] then redis.call('DEL', KEYS[2]) end
end
return 1`,
  2,
);

/**
 * SharedState on Redis: what makes one token, one login, one lock and one idempotency record hold
 * across every instance. Each failure becomes StateUnavailable (and a counted Redis error) so the
 * caller decides whether to degrade or refuse; none of them waits longer than the command timeout.
 */
export class RedisState implements SharedState {
  readonly kind = 'redis';

  constructor(
    private readonly redis: RedisClient,
    private readonly prefix: string,
    private readonly metrics: Metrics,
  ) {}

  get(key: string): Promise<string | null> {
    return this.#do('get', () => this.redis.get(this.prefix + key));
  }

  getMany(keys: readonly string[]): Promise<(string | null)[]> {
    return this.#do('mget', () => this.redis.mget(...keys.map((key) => this.prefix + key)));
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    await this.#do('set', () => this.redis.set(this.prefix + key, value, 'PX', positive(ttlMs)));
  }

  async setIfAbsent(key: string, value: string, ttlMs: number | null): Promise<boolean> {
    const reply = await this.#do('set_nx', () =>
      ttlMs === null ? this.redis.set(this.prefix + key, value, 'NX') : this.redis.set(this.prefix + key, value, 'PX', positive(ttlMs), 'NX'),
    );
    return reply === 'OK';
  }

  async addToCounter(key: string, delta: number, ttlMs: number): Promise<number> {
    return Number(await this.#do('counter', () => ADD_TO_COUNTER.run(this.redis, [this.prefix + key], [delta, positive(ttlMs)])));
  }

  async reserve(key: string, value: string, ttlMs: number, epoch: string | null): Promise<ReserveResult> {
    const reply = await this.#do('reserve', () =>
      RESERVE.run(this.redis, [this.prefix + key, epochKeyFor(this.prefix, this.prefix + key, this.redis.isCluster)], [value, positive(ttlMs), epoch ?? '']),
    );
    const [kind, detail] = reply as [string, string | undefined];
    if (kind === 'epoch_lost') return { kind, epoch: detail ?? null };
    if (kind === 'exists' && detail !== undefined) return { kind, value: detail };
    return { kind: 'created' };
  }

  async beginInvoicePay(
    keys: InvoiceKeys,
    owner: string,
    lockTtlMs: number,
    pendingHold: { readonly value: string; readonly ttlMs: number } | null,
    epoch: string | null,
  ): Promise<BeginResult> {
    const reply = await this.#do('begin_invoice_pay', () =>
      BEGIN_INVOICE_PAY.run(
        this.redis,
        [this.prefix + keys.lock, this.prefix + keys.hold, epochKeyFor(this.prefix, this.prefix + keys.lock, this.redis.isCluster)],
        [owner, positive(lockTtlMs), pendingHold?.value ?? '', positive(pendingHold?.ttlMs ?? 1), epoch ?? ''],
      ),
    );
    const [kind, detail] = reply as [string, string | undefined];
    if (kind === 'epoch_lost') return { kind, epoch: detail ?? null };
    if (kind === 'held') return { kind, hold: detail ?? '' };
    if (kind === 'locked') return { kind };
    return { kind: 'begun' };
  }

  async settleInvoicePay(
    keys: InvoiceKeys,
    owner: string,
    paymentId: string,
    unknownHold: { readonly value: string; readonly ttlMs: number } | null,
  ): Promise<void> {
    await this.#do('settle_invoice_pay', () =>
      SETTLE_INVOICE_PAY.run(
        this.redis,
        [this.prefix + keys.lock, this.prefix + keys.hold],
        [owner, paymentId, unknownHold?.value ?? '', positive(unknownHold?.ttlMs ?? 1)],
      ),
    );
  }

  async deleteIfEquals(key: string, expected: string): Promise<boolean> {
    const reply = await this.#do('compare_and_delete', () => DELETE_IF_EQUALS.run(this.redis, [this.prefix + key], [expected]));
    return reply === 1;
  }

  async replaceIfEqualsOrAbsent(key: string, expected: string, value: string, ttlMs: number): Promise<'replaced' | 'created' | 'unchanged' | 'other'> {
    const reply = await this.#do('compare_or_create', () =>
      REPLACE_IF_EQUALS_OR_ABSENT.run(this.redis, [this.prefix + key], [expected, value, positive(ttlMs)]),
    );
    if (reply === 'replaced' || reply === 'created' || reply === 'unchanged' || reply === 'other') return reply;
    throw new StateUnavailable('compare_or_create', new Error('unexpected reply'));
  }

  async restoreHold(key: string, value: string, ttlMs: number): Promise<boolean> {
    return (await this.#do('restore_hold', () => RESTORE_HOLD.run(this.redis, [this.prefix + key], [value, positive(ttlMs)]))) === 1;
  }

  async replaceIfEqualsKeepingTtl(key: string, expected: string, value: string): Promise<boolean> {
    const reply = await this.#do('compare_and_set', () => REPLACE_IF_EQUALS_KEEPING_TTL.run(this.redis, [this.prefix + key], [expected, value]));
    return reply === 1;
  }

  /** SCAN on every master (a cluster's keys are spread over them). */
  async *scan(keyPrefix: string): AsyncIterable<string[]> {
    for (const node of masters(this.redis)) {
      let cursor = '0';
      do {
        const [next, keys] = await this.#do('scan', () => node.scan(cursor, 'MATCH', `${escapeGlob(this.prefix + keyPrefix)}*`, 'COUNT', 500));
        cursor = next;
        if (keys.length > 0) yield keys.map((key) => key.slice(this.prefix.length));
      } while (cursor !== '0');
    }
  }

  async delete(key: string): Promise<void> {
    await this.#do('del', () => this.redis.del(this.prefix + key));
  }

  async ping(): Promise<void> {
    await this.#do('ping', () => this.redis.ping());
  }

  async readEpoch(onePerServer: boolean): Promise<EpochRead> {
    const sample = onePerServer && this.redis.isCluster ? epochKeysOfSlots(this.prefix, oneSlotPerMaster(this.redis as Cluster)) : [];
    const keys = sample.length > 0 ? sample : allEpochKeys(this.prefix, this.redis.isCluster);
    const values = (await this.#do('epoch', () => perKeyPipelined(this.redis, keys, (key) => ['get', key]))) as (string | null)[];
    return new Set(values).size === 1 ? { isMixed: false, value: values[0] ?? null } : { isMixed: true };
  }

  async writeEpoch(value: string, onlyIfAbsent: boolean): Promise<void> {
    const keys = allEpochKeys(this.prefix, this.redis.isCluster);
    await this.#do('epoch', () => perKeyPipelined(this.redis, keys, (key) => (onlyIfAbsent ? ['set', key, value, 'NX'] : ['set', key, value])));
  }

  async #do<T>(operation: string, command: () => Promise<T>): Promise<T> {
    try {
      return await command();
    } catch (error) {
      this.metrics.redisErrors.inc({ operation });
      throw new StateUnavailable(operation, error);
    }
  }
}

/** A key prefix as a literal in a SCAN pattern. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}

/** Redis rejects PX 0 or below; a record that should already be gone lives one millisecond. */
function positive(ttlMs: number): number {
  return Math.max(1, Math.ceil(ttlMs));
}
