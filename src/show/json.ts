/** `elfprefetch show --json`: what the picture shows, as data. */
import { formatRanges, pageTotal } from '../note/pageset';
import type { ShownObject } from './model';

export function showJson(objects: ShownObject[], svg?: string) {
  return {
    objects: objects.map((o) => ({
      path: o.title,
      notes: o.notes,
      fileSize: o.fileSize,
      pageSize: o.pageSize,
      pageCount: o.pageCount,
      set: o.setName,
      selectedPages: pageTotal(o.selected),
      selected: formatRanges(o.selected),
      device: o.device,
      requestCap: o.cap,
      reads: o.plan,
      readBytes: o.plan.reduce((n, r) => n + r.length, 0),
      segments: o.segments,
      sections: o.sections,
    })),
    ...(svg ? { svg } : {}),
  };
}
