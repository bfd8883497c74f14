package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func ints(s string) []int32 {
	var out []int32
	for _, f := range strings.Split(s, ",") {
		n, _ := strconv.Atoi(f)
		out = append(out, int32(n))
	}
	return out
}

// admin reassign TOPIC P=1,2,3 [P=...]   : alter and wait until no reassignment is listed
// admin addparts TOPIC TOTAL
// admin elect TOPIC
// admin desc TOPIC
func admin(args []string) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers()...))
	if err != nil {
		log.Fatal(err)
	}
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	t0 := time.Now()
	topic := args[1]
	switch args[0] {
	case "reassign":
		req := kadm.AlterPartitionAssignmentsReq{}
		parts := kadm.TopicsSet{}
		for _, a := range args[2:] {
			pp := strings.SplitN(a, "=", 2)
			p, _ := strconv.Atoi(pp[0])
			req.Assign(topic, int32(p), ints(pp[1]))
			parts.Add(topic, int32(p))
		}
		rs, err := adm.AlterPartitionAssignments(ctx, req)
		if err != nil {
			log.Fatal(err)
		}
		for _, r := range rs.Sorted() {
			fmt.Printf("alter %s/%d: err=%v %s\n", r.Topic, r.Partition, r.Err, r.ErrMessage)
		}
		for {
			ls, err := adm.ListPartitionReassignments(ctx, parts)
			if err != nil {
				fmt.Println("list:", err)
			} else if len(ls.Sorted()) == 0 {
				break
			} else {
				for _, r := range ls.Sorted() {
					fmt.Printf("  %s %s/%d replicas=%v adding=%v removing=%v\n", time.Since(t0).Round(time.Millisecond), r.Topic, r.Partition, r.Replicas, r.AddingReplicas, r.RemovingReplicas)
				}
			}
			time.Sleep(500 * time.Millisecond)
		}
		fmt.Printf("reassignment done after %s\n", time.Since(t0).Round(time.Millisecond))
	case "createassigned":
		req := kmsg.NewPtrCreateTopicsRequest()
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, -1, -1
		for _, a := range args[2:] {
			pp := strings.SplitN(a, "=", 2)
			p, _ := strconv.Atoi(pp[0])
			ra := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
			ra.Partition, ra.Replicas = int32(p), ints(pp[1])
			rt.ReplicaAssignment = append(rt.ReplicaAssignment, ra)
		}
		req.Topics = append(req.Topics, rt)
		req.TimeoutMillis = 30000
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			log.Fatal(err)
		}
		for _, t := range resp.Topics {
			msg := ""
			if t.ErrorMessage != nil {
				msg = *t.ErrorMessage
			}
			fmt.Printf("create %s: code=%d %s\n", t.Topic, t.ErrorCode, msg)
			if t.ErrorCode != 0 {
				os.Exit(1)
			}
		}
	case "addparts":
		n, _ := strconv.Atoi(args[2])
		rs, err := adm.UpdatePartitions(ctx, n, topic)
		fmt.Printf("update partitions: %v %+v (%s)\n", err, rs, time.Since(t0))
	case "elect":
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			log.Fatal(err)
		}
		rs, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, md.Topics.TopicsSet())
		if err != nil {
			log.Fatal(err)
		}
		for _, ps := range rs {
			for p, r := range ps {
				if r.Err != nil {
					fmt.Printf("elect %s/%d err=%v %s\n", topic, p, r.Err, r.ErrMessage)
				}
			}
		}
		fmt.Printf("elect took %s\n", time.Since(t0))
	case "desc":
		md, err := adm.Metadata(ctx, topic)
		if err != nil {
			log.Fatal(err)
		}
		for _, t := range md.Topics {
			ps := t.Partitions.Sorted()
			sort.Slice(ps, func(i, j int) bool { return ps[i].Partition < ps[j].Partition })
			for _, p := range ps {
				fmt.Printf("%s/%d leader=%d epoch=%d replicas=%v isr=%v offline=%v err=%v\n", t.Topic, p.Partition, p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.OfflineReplicas, p.Err)
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown admin")
	}
}
