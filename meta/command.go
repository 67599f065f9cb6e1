package meta

import (
	"encoding/json"
	"fmt"
)

// A command is one raft log entry: a two-byte header followed by a JSON
// body.
//
//	byte 0   envelope version (commandVersion)
//	byte 1   command type (cmdX below)
//	byte 2.. JSON body of the type's struct
//
// Types are never renumbered; a change of a body's meaning gets a new type.
// A node that reads an unknown version or type rejects that entry with an
// error result and leaves its state unchanged.
const commandVersion byte = 1

type commandType byte

const (
	cmdInitCluster         commandType = 1  // initCluster
	cmdRegisterBroker      commandType = 2  // registerBroker
	cmdUnregisterBroker    commandType = 3  // unregisterBroker
	cmdCreateTopic         commandType = 4  // createTopic
	cmdDeleteTopic         commandType = 5  // deleteTopic
	cmdCreatePartitions    commandType = 6  // createPartitions
	cmdSetTopicConfigs     commandType = 7  // setTopicConfigs
	cmdSetClusterConfigs   commandType = 8  // setClusterConfigs
	cmdUpdatePartition     commandType = 9  // updatePartition
	cmdAllocateProducerIDs commandType = 10 // allocateProducerIDs
	cmdSetBrokerFenced     commandType = 11 // setBrokerFenced
	cmdUpdatePartitionIf   commandType = 12 // updatePartitionIf
	cmdReassignPartition   commandType = 13 // reassignPartition
	cmdAlterScram          commandType = 14 // alterScram
	cmdCreateACLs          commandType = 15 // createACLs
	cmdDeleteACLs          commandType = 16 // deleteACLs
	cmdAlterClientQuotas   commandType = 17 // alterClientQuotas (quotas.go)
)

func (t commandType) String() string {
	switch t {
	case cmdInitCluster:
		return "InitCluster"
	case cmdRegisterBroker:
		return "RegisterBroker"
	case cmdUnregisterBroker:
		return "UnregisterBroker"
	case cmdCreateTopic:
		return "CreateTopic"
	case cmdDeleteTopic:
		return "DeleteTopic"
	case cmdCreatePartitions:
		return "CreatePartitions"
	case cmdSetTopicConfigs:
		return "SetTopicConfigs"
	case cmdSetClusterConfigs:
		return "SetClusterConfigs"
	case cmdUpdatePartition:
		return "UpdatePartition"
	case cmdAllocateProducerIDs:
		return "AllocateProducerIDs"
	case cmdSetBrokerFenced:
		return "SetBrokerFenced"
	case cmdUpdatePartitionIf:
		return "UpdatePartitionIf"
	case cmdReassignPartition:
		return "ReassignPartition"
	case cmdAlterScram:
		return "AlterScramCredentials"
	case cmdCreateACLs:
		return "CreateACLs"
	case cmdDeleteACLs:
		return "DeleteACLs"
	case cmdAlterClientQuotas:
		return "AlterClientQuotas"
	}
	return fmt.Sprintf("command(%d)", byte(t))
}

// initCluster sets the cluster ID once; later ones are ignored.
type initCluster struct {
	ClusterID string `json:"cluster_id"`
	// Scram are the first credentials (--bootstrap-scram-user), stored
	// only by the entry that sets the ID: a cluster has them from its
	// first instant, and later starts with the flag change nothing.
	Scram []scramJSON `json:"scram,omitempty"`
}

// registerBroker inserts or replaces a broker registration.
type registerBroker struct {
	Broker brokerJSON `json:"broker"`
}

// setBrokerFenced fences or unfences a registered broker.
type setBrokerFenced struct {
	ID     int32 `json:"id"`
	Fenced bool  `json:"fenced"`
}

// unregisterBroker removes a broker registration.
type unregisterBroker struct {
	ID int32 `json:"id"`
}

// createTopic adds a topic with every partition spelled out, so applying it
// needs no randomness and no view of other state beyond the name check.
type createTopic struct {
	Topic topicJSON `json:"topic"`
}

// deleteTopic removes a topic by name.
type deleteTopic struct {
	Name string `json:"name"`
}

// createPartitions grows a topic to Total partitions. Assignments holds the
// replicas of each new partition in index order, so its length must be
// Total minus the current count at apply time.
type createPartitions struct {
	Name        string    `json:"name"`
	Total       int32     `json:"total"`
	Assignments [][]int32 `json:"assignments"`
}

// setTopicConfigs replaces a topic's whole config map.
type setTopicConfigs struct {
	Name    string            `json:"name"`
	Configs map[string]string `json:"configs"`
}

// setClusterConfigs replaces the whole dynamic cluster config map.
type setClusterConfigs struct {
	Configs map[string]string `json:"configs"`
}

// updatePartition is PartitionUpdate on the log.
type updatePartition struct {
	Topic               string  `json:"topic"`
	Partition           int32   `json:"partition"`
	ExpectedLeaderEpoch int32   `json:"expected_leader_epoch"`
	Leader              int32   `json:"leader"`
	ISR                 []int32 `json:"isr"`
	Replicas            []int32 `json:"replicas,omitempty"`
}

// updatePartitionIf is a PartitionUpdate with ExpectedISR: applied only
// while the partition's ISR is still the set the writer decided from, so
// a leader's ISR change and the controller's never overwrite each other
// (Kafka's partition-epoch guard of AlterPartition).
type updatePartitionIf struct {
	updatePartition
	ExpectedISR      []int32 `json:"expected_isr"`
	ExpectedReplicas []int32 `json:"expected_replicas,omitempty"`
}

// reassignPartition starts (or retargets) a reassignment of one partition
// to Target, or with Cancel puts its original replicas back.
type reassignPartition struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Target    []int32 `json:"target,omitempty"`
	Cancel    bool    `json:"cancel,omitempty"`
}

// brokerJSON, topicJSON and partitionJSON are the log and snapshot forms of
// the public types, with stable field names independent of Go names.
type brokerJSON struct {
	ID     int32  `json:"id"`
	Host   string `json:"host"`
	Port   int32  `json:"port"`
	Rack   string `json:"rack,omitempty"`
	Fenced bool   `json:"fenced,omitempty"`
	// Endpoints are the advertised listeners; absent in entries written
	// before listeners existed.
	Endpoints []endpointJSON `json:"endpoints,omitempty"`
}

type endpointJSON struct {
	Name     string `json:"name"`
	Host     string `json:"host"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol"`
}

type topicJSON struct {
	Name       string            `json:"name"`
	ID         [16]byte          `json:"id"`
	Partitions []partitionJSON   `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
}

type partitionJSON struct {
	Index       int32   `json:"index"`
	Leader      int32   `json:"leader"`
	LeaderEpoch int32   `json:"leader_epoch"`
	Replicas    []int32 `json:"replicas"`
	ISR         []int32 `json:"isr"`
	Adding      []int32 `json:"adding,omitempty"`
	Removing    []int32 `json:"removing,omitempty"`
}

func brokerToJSON(b Broker) brokerJSON {
	j := brokerJSON{ID: b.ID, Host: b.Host, Port: b.Port, Rack: b.Rack, Fenced: b.Fenced}
	for _, e := range b.Endpoints {
		j.Endpoints = append(j.Endpoints, endpointJSON(e))
	}
	return j
}

func (b brokerJSON) broker() Broker {
	out := Broker{ID: b.ID, Host: b.Host, Port: b.Port, Rack: b.Rack, Fenced: b.Fenced}
	for _, e := range b.Endpoints {
		out.Endpoints = append(out.Endpoints, Endpoint(e))
	}
	return out
}

func topicToJSON(t Topic) topicJSON {
	ps := make([]partitionJSON, len(t.Partitions))
	for i, p := range t.Partitions {
		ps[i] = partitionJSON{Index: p.Index, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR,
			Adding: p.Adding, Removing: p.Removing}
	}
	return topicJSON{Name: t.Name, ID: t.ID, Partitions: ps, Configs: t.Configs, Internal: t.Internal}
}

// topic converts to the in-memory form, copying every slice and map.
func (t topicJSON) topic() Topic {
	ps := make([]Partition, len(t.Partitions))
	for i, p := range t.Partitions {
		ps[i] = Partition{Index: p.Index, Leader: p.Leader, LeaderEpoch: p.LeaderEpoch, Replicas: p.Replicas, ISR: p.ISR,
			Adding: p.Adding, Removing: p.Removing}.clone()
	}
	return Topic{Name: t.Name, ID: t.ID, Partitions: ps, Configs: cloneConfigs(t.Configs), Internal: t.Internal}
}

// encodeCommand builds a log entry for body.
func encodeCommand(t commandType, body any) ([]byte, error) {
	js, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("meta: encoding %v: %w", t, err)
	}
	out := make([]byte, 0, 2+len(js))
	out = append(out, commandVersion, byte(t))
	return append(out, js...), nil
}

// decodeCommand splits a log entry into its type and body. It never
// panics; anything it cannot read is an ErrInvalidCommand.
func decodeCommand(data []byte) (commandType, any, error) {
	if len(data) < 2 {
		return 0, nil, fmt.Errorf("%w: %d-byte entry", ErrInvalidCommand, len(data))
	}
	if data[0] != commandVersion {
		return 0, nil, fmt.Errorf("%w: envelope version %d", ErrInvalidCommand, data[0])
	}
	t := commandType(data[1])
	var body any
	switch t {
	case cmdInitCluster:
		body = new(initCluster)
	case cmdRegisterBroker:
		body = new(registerBroker)
	case cmdUnregisterBroker:
		body = new(unregisterBroker)
	case cmdCreateTopic:
		body = new(createTopic)
	case cmdDeleteTopic:
		body = new(deleteTopic)
	case cmdCreatePartitions:
		body = new(createPartitions)
	case cmdSetTopicConfigs:
		body = new(setTopicConfigs)
	case cmdSetClusterConfigs:
		body = new(setClusterConfigs)
	case cmdUpdatePartition:
		body = new(updatePartition)
	case cmdAllocateProducerIDs:
		body = new(allocateProducerIDs)
	case cmdSetBrokerFenced:
		body = new(setBrokerFenced)
	case cmdUpdatePartitionIf:
		body = new(updatePartitionIf)
	case cmdReassignPartition:
		body = new(reassignPartition)
	case cmdAlterScram:
		body = new(alterScram)
	case cmdCreateACLs:
		body = new(createACLs)
	case cmdDeleteACLs:
		body = new(deleteACLs)
	case cmdAlterClientQuotas:
		body = new(alterClientQuotas)
	default:
		return t, nil, fmt.Errorf("%w: unknown type %d", ErrInvalidCommand, byte(t))
	}
	if err := json.Unmarshal(data[2:], body); err != nil {
		return t, nil, fmt.Errorf("%w: %v body: %v", ErrInvalidCommand, t, err)
	}
	return t, body, nil
}
