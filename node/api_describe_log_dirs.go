package node

import (
	"path/filepath"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DescribeLogDirs (key 35): versions 0-4. One log directory,
// <data-dir>/kafka, with each hosted partition's size; v4 adds the
// filesystem's total and usable bytes.
func init() { register(35, 0, 4, (*Node).handleDescribeLogDirs) }

func (n *Node) handleDescribeLogDirs(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DescribeLogDirsRequest)
	resp := kmsg.NewPtrDescribeLogDirsResponse()
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir, _ = filepath.Abs(n.parts.dir)
	var st syscall.Statfs_t
	if err := syscall.Statfs(n.parts.dir, &st); err == nil {
		dir.TotalBytes = int64(st.Blocks) * st.Bsize
		dir.UsableBytes = int64(st.Bavail) * st.Bsize
	} else {
		dir.TotalBytes, dir.UsableBytes = -1, -1
	}
	want := func(topic string, part int32) bool {
		if req.Topics == nil {
			return true
		}
		for _, t := range req.Topics {
			if t.Topic == topic {
				for _, p := range t.Partitions {
					if p == part {
						return true
					}
				}
			}
		}
		return false
	}
	byTopic := map[string]int{}
	for _, p := range n.parts.all() {
		if !want(p.topic, p.index) {
			continue
		}
		i, ok := byTopic[p.topic]
		if !ok {
			t := kmsg.NewDescribeLogDirsResponseDirTopic()
			t.Topic = p.topic
			dir.Topics = append(dir.Topics, t)
			i = len(dir.Topics) - 1
			byTopic[p.topic] = i
		}
		dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		dp.Partition = p.index
		dp.Size = p.log.Size()
		dir.Topics[i].Partitions = append(dir.Topics[i].Partitions, dp)
	}
	resp.Dirs = append(resp.Dirs, dir)
	rep.finish(resp)
}
