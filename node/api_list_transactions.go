package node

import (
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/stratalog/strata/node/txn"
)

// ListTransactions (key 66): versions 0-1. Filters by state name, producer
// ID and (v1) transactions open longer than DurationFilterMillis. State
// names Strata does not know come back in UnknownStateFilters. Version 2
// (a transactional ID pattern) is not served.
func init() { register(66, 0, 1, (*Node).handleListTransactions) }

var txnStateNames = map[string]bool{}

func init() {
	for s := txn.Empty; s <= txn.Dead; s++ {
		txnStateNames[s.KafkaState()] = true
	}
	txnStateNames["PrepareEpochFence"] = true
}

func (n *Node) handleListTransactions(r *request, rep *reply) {
	req := r.kreq.(*kmsg.ListTransactionsRequest)
	resp := kmsg.NewPtrListTransactionsResponse()
	states := map[string]bool{}
	for _, s := range req.StateFilters {
		if !txnStateNames[s] {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
			continue
		}
		states[s] = true
	}
	pids := map[int64]bool{}
	for _, p := range req.ProducerIDFilters {
		pids[p] = true
	}
	now := time.Now().UnixMilli()
	for _, m := range n.txns.coord.List() {
		name := m.State.KafkaState()
		if len(req.StateFilters) > 0 && !states[name] {
			continue
		}
		if len(pids) > 0 && !pids[m.ProducerID] {
			continue
		}
		if r.version >= 1 && req.DurationFilterMillis >= 0 && (m.StartMs < 0 || now-m.StartMs < req.DurationFilterMillis) {
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = m.TransactionalID, m.ProducerID, name
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	rep.finish(resp)
}
