export interface PlanOptions {
  /** Overrides the machine's maximum page size (bytes, a power of two). */
  maxPageSize?: bigint;
  /** Lowest address a segment may get (vm.mmap_min_addr); 64 KiB unless told. */
  mmapMinAddr?: bigint;
  /**
   * Where the contract of docs/DESIGN.md leaves no room: refuse (default), or move existing
   * sections to make room (the strategies of earlier versions, which break the contract).
   */
  allowMove?: boolean;
}
