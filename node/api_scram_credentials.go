package node

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/meta"
	"github.com/stratalog/strata/security"
)

// DescribeUserScramCredentials (key 50) and AlterUserScramCredentials
// (key 51), KIP-554: SCRAM credentials kept in the replicated metadata.
// Upsertions carry the client's salted password, never the password.
func init() {
	register(50, 0, 0, (*Node).handleDescribeUserScramCredentials)
	register(51, 0, 0, (*Node).handleAlterUserScramCredentials)
}

// scramMechanism maps KIP-554's mechanism numbers.
func scramMechanism(m int8) (string, bool) {
	switch m {
	case 1:
		return security.MechScramSHA256, true
	case 2:
		return security.MechScramSHA512, true
	}
	return "", false
}

func scramMechanismCode(name string) int8 {
	switch name {
	case security.MechScramSHA256:
		return 1
	case security.MechScramSHA512:
		return 2
	}
	return 0
}

func (n *Node) handleDescribeUserScramCredentials(r *request, rep *reply) {
	req := r.kreq.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := kmsg.NewPtrDescribeUserSCRAMCredentialsResponse()
	users := n.meta.ScramUsers()
	add := func(name string, code int16, msg string) {
		res := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		res.User, res.ErrorCode = name, code
		if msg != "" {
			res.ErrorMessage = &msg
		}
		for _, info := range users[name] {
			if code != 0 {
				break
			}
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = scramMechanismCode(info.Mechanism), int32(info.Iterations)
			res.CredentialInfos = append(res.CredentialInfos, ci)
		}
		resp.Results = append(resp.Results, res)
	}
	if len(req.Users) == 0 {
		for _, name := range slices.Sorted(maps.Keys(users)) {
			add(name, 0, "")
		}
		rep.finish(resp)
		return
	}
	seen := map[string]int{}
	for _, u := range req.Users {
		seen[u.Name]++
	}
	for _, u := range req.Users {
		switch {
		case seen[u.Name] < 0: // duplicate, already answered
		case seen[u.Name] > 1:
			add(u.Name, kerr.DuplicateResource.Code, "user listed more than once")
			seen[u.Name] = -1
		case len(users[u.Name]) == 0:
			add(u.Name, kerr.ResourceNotFound.Code, "attempt to describe a user credential that does not exist")
		default:
			add(u.Name, 0, "")
		}
	}
	rep.finish(resp)
}

func (n *Node) handleAlterUserScramCredentials(r *request, rep *reply) {
	req := r.kreq.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := kmsg.NewPtrAlterUserSCRAMCredentialsResponse()
	type key struct {
		user string
		mech int8
	}
	count := map[key]int{}
	for _, d := range req.Deletions {
		count[key{d.Name, d.Mechanism}]++
	}
	for _, u := range req.Upsertions {
		count[key{u.Name, u.Mechanism}]++
	}
	userErr := map[string]error{}
	var order []string
	note := func(user string, err error) {
		if _, ok := userErr[user]; !ok {
			order = append(order, user)
			userErr[user] = nil
		}
		if err != nil && userErr[user] == nil {
			userErr[user] = err
		}
	}
	var upserts []meta.ScramUpsert
	var deletions []meta.ScramKey
	for _, d := range req.Deletions {
		mech, ok := scramMechanism(d.Mechanism)
		switch {
		case d.Name == "":
			note(d.Name, fmt.Errorf("%w: empty user name", kerr.UnacceptableCredential))
		case !ok:
			note(d.Name, fmt.Errorf("%w: mechanism %d", kerr.UnsupportedSaslMechanism, d.Mechanism))
		case count[key{d.Name, d.Mechanism}] > 1:
			note(d.Name, fmt.Errorf("%w: a user's mechanism altered more than once", kerr.DuplicateResource))
		default:
			if _, exists := n.meta.ScramCredential(d.Name, mech); !exists {
				note(d.Name, fmt.Errorf("%w: attempt to delete a user credential that does not exist", kerr.ResourceNotFound))
				continue
			}
			note(d.Name, nil)
			deletions = append(deletions, meta.ScramKey{User: d.Name, Mechanism: mech})
		}
	}
	for _, u := range req.Upsertions {
		mech, ok := scramMechanism(u.Mechanism)
		switch {
		case u.Name == "":
			note(u.Name, fmt.Errorf("%w: empty user name", kerr.UnacceptableCredential))
		case !ok:
			note(u.Name, fmt.Errorf("%w: mechanism %d", kerr.UnsupportedSaslMechanism, u.Mechanism))
		case count[key{u.Name, u.Mechanism}] > 1:
			note(u.Name, fmt.Errorf("%w: a user's mechanism altered more than once", kerr.DuplicateResource))
		default:
			cred, err := security.ScramFromSaltedPassword(mech, u.Salt, u.SaltedPassword, int(u.Iterations))
			if err != nil {
				note(u.Name, fmt.Errorf("%w: %v", kerr.UnacceptableCredential, err))
				continue
			}
			note(u.Name, nil)
			upserts = append(upserts, meta.ScramUpsert{User: u.Name, Cred: cred})
		}
	}
	// A user with any refused alteration has none applied.
	keepUp := upserts[:0]
	for _, u := range upserts {
		if userErr[u.User] == nil {
			keepUp = append(keepUp, u)
		}
	}
	keepDel := deletions[:0]
	for _, d := range deletions {
		if userErr[d.User] == nil {
			keepDel = append(keepDel, d)
		}
	}
	n.safeGo(r, rep, func() {
		var applyErr error
		if len(keepUp)+len(keepDel) > 0 {
			ctx, cancel := context.WithTimeout(r.conn.ctx, 30*time.Second)
			applyErr = n.meta.AlterScramCredentials(ctx, keepUp, keepDel)
			cancel()
		}
		n.answerAlterScram(r, rep, resp, order, userErr, applyErr)
	})
}

func (n *Node) answerAlterScram(r *request, rep *reply, resp *kmsg.AlterUserSCRAMCredentialsResponse, order []string, userErr map[string]error, applyErr error) {
	for _, user := range order {
		res := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		res.User = user
		err := userErr[user]
		if err == nil {
			err = applyErr
		}
		if err != nil {
			res.ErrorCode, res.ErrorMessage = errCode(err), errMsg(err)
		} else {
			n.log.Info("SCRAM credentials altered", "user", user, "by", r.principal)
		}
		resp.Results = append(resp.Results, res)
	}
	rep.finish(resp)
}
