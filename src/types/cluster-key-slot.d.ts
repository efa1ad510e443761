/** The slot of a key in a Redis Cluster (CRC16 of the key or its hash tag, modulo 16384): ioredis' own dependency. */
declare module 'cluster-key-slot' {
  export default function calculateSlot(key: string | Buffer): number;
}
