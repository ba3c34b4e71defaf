# Outsider bugs for sim/scripts/outsider-bugs.sh: name -> (file, exact text, replacement).
import sys
bugs = {
 "linsert-old-length": ("core/src/commands/lists.rs",
   '    ctx.notify(notify::LIST, "linsert", key);\n    ctx.out().int(len as i64);',
   '    ctx.notify(notify::LIST, "linsert", key);\n    ctx.out().int(len as i64 - 1);'),
 "hdel-counts-every-field": ("core/src/commands/hashes.rs",
   '    ctx.out().int(deleted);\n}\n\nfn hlen',
   '    ctx.out().int(if deleted > 0 { (argv.len() - 2) as i64 } else { 0 });\n}\n\nfn hlen'),
 "zrem-stops-after-first": ("core/src/commands/zsets.rs",
   '        if update_zset(ctx, id, |z, _| z.remove(member)) == Some(true) {\n            deleted += 1;\n        }',
   '        if update_zset(ctx, id, |z, _| z.remove(member)) == Some(true) {\n            deleted += 1;\n            break;\n        }'),
 "ltrim-keeps-one-more": ("core/src/commands/lists.rs",
   '        (start, len - end - 1)',
   '        (start, (len - end - 2).max(0))'),
 "zadd-xx-adds-new": ("core/src/commands/zsets.rs",
   '                None if !xx => {',
   '                None => {'),
 "smove-missing-member-says-moved": ("core/src/commands/sets.rs",
   '    if update_set(ctx, src_id, |s, _| s.remove(member)) != Some(true) {\n        ctx.out().int(0);',
   '    if update_set(ctx, src_id, |s, _| s.remove(member)) != Some(true) {\n        ctx.out().int(1);'),
 "lpushx-creates-key": ("core/src/commands/lists.rs",
   '        None if only_existing => {\n            ctx.out().int(0);\n            return;\n        }',
   '        None if only_existing && false => {\n            ctx.out().int(0);\n            return;\n        }'),
 # The TTL index (core/src/keyspace/ttls.rs).
 "ttl-moved-not-repointed": ("core/src/keyspace/ttls.rs",
   '        if let Some(index) = self.chunks.get_mut(chunk) {\n            index.repoint(offset, pos as u32);',
   '        if let Some(index) = self.chunks.get_mut(chunk).filter(|_| false) {\n            index.repoint(offset, pos as u32);'),
 "ttl-dense-drops-one": ("core/src/keyspace/ttls.rs",
   '                for (&o, &p) in map.iter() {',
   '                for (&o, &p) in map.iter().skip(1) {'),
 "ttl-page-one-short": ("core/src/keyspace/ttls.rs",
   '            Some(page) if page.len() < page_size => {',
   '            Some(page) if page.len() < page_size - 1 => {'),
 # The key index's segments (core/src/slab/index.rs).
 "index-dir-half-short": ("core/src/slab/index.rs",
   '        for e in self.dir.iter_mut().skip(start + span / 2).take(span / 2) {',
   '        for e in self.dir.iter_mut().skip(start + span / 2).take(span / 2 - 1) {'),
 "index-split-wrong-bit": ("core/src/slab/index.rs",
   '    ((hash << 7) >> (63 - depth)) & 1 == 1',
   '    ((hash << 7) >> (62 - depth)) & 1 == 1'),
 "index-collapse-skips-first": ("core/src/slab/index.rs",
   '        for seg in self.segs {',
   '        for seg in self.segs.into_iter().skip(1) {'),
 "index-split-bytes-forgotten": ("core/src/slab/index.rs",
   '            .resized(before, table_bytes(&low) + table_bytes(&high));',
   '            .resized(before, table_bytes(&low));'),
}
name = sys.argv[1]
path, old, new = bugs[name]
s = open(path).read()
assert s.count(old) == 1, (name, s.count(old))
open(path, 'w').write(s.replace(old, new))
