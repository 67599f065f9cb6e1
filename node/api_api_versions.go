package node

import (
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ApiVersions (key 18): versions 0-3. It advertises exactly the table of
// registered APIs.
func init() { register(18, 0, 3, (*Node).handleApiVersions) }

func apiVersionKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for k, a := range apis {
		keys = append(keys, kmsg.ApiVersionsResponseApiKey{ApiKey: k, MinVersion: a.min, MaxVersion: a.max})
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

func (n *Node) handleApiVersions(r *request, rep *reply) {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ApiKeys = apiVersionKeys()
	rep.finish(resp)
}

// handleApiVersionsUnsupported answers an ApiVersions request of a version
// newer than served: a v0 response with UNSUPPORTED_VERSION and the table, so
// the client can retry with a version both sides speak.
func (n *Node) handleApiVersionsUnsupported(r *request, rep *reply) {
	r.version = 0
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiVersionKeys()
	rep.finish(resp)
}
