import sys, struct, sqlite3, shutil, collections, os
db=sys.argv[1]; wal=db+'-wal'
data=open(wal,'rb').read()
magic, ver, psz, ckseq, s1, s2, c1, c2 = struct.unpack('>IIIIIIII', data[:32])
off=32; frames=[]; commits=0
while off+24+psz <= len(data):
    pg, commit, fs1, fs2 = struct.unpack('>IIII', data[off:off+16])
    if (fs1,fs2)!=(s1,s2): break
    frames.append(pg); 
    if commit: commits+=1
    off+=24+psz
print("frames", len(frames), "commits", commits, "frames/commit %.1f"%(len(frames)/max(commits,1)))
# map pages to tables: copy db+wal to temp, open
tmp='/tmp/exp/walstat.db'
for suf in ['','-wal']:
    shutil.copy(db+suf, tmp+suf)
c=sqlite3.connect(tmp)
pages={}
for name,pageno in c.execute("select name,pageno from dbstat"):
    pages[pageno]=name
cnt=collections.Counter(pages.get(p,'?') for p in frames)
for k,v in cnt.most_common(): print(f"{k:30} {v:8} {v/max(commits,1):.2f}/commit")
distinct=collections.Counter(pages.get(p,'?') for p in set(frames))
print("distinct pages:", len(set(frames))); 
for k,v in distinct.most_common(8): print(f"  {k:30} {v}")
