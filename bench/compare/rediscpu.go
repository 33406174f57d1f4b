package main

import (
	"context"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// redisCPUer is a system on Redis that can report the CPU time its Redis
// server has used so far (INFO cpu: used_cpu_user + used_cpu_sys, every
// thread of the server process, seconds). The drain samples it around its
// window: Redis' own CPU per task, a figure that the machine's load
// inflates far less than the wall-clock rate.
type redisCPUer interface {
	RedisCPU(ctx context.Context) (float64, error)
}

// infoCPU reads INFO cpu of the server rdb is connected to.
func infoCPU(ctx context.Context, rdb *redis.Client) (float64, error) {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		return 0, err
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			total += f
		}
	}
	return total, nil
}

func (s *asynqSystem) RedisCPU(ctx context.Context) (float64, error) { return infoCPU(ctx, s.rdb) }

func (s *bgtaskRedisSystem) RedisCPU(ctx context.Context) (float64, error) {
	if s.cpu == nil {
		opt, err := redis.ParseURL(s.url)
		if err != nil {
			return 0, err
		}
		s.cpu = redis.NewClient(opt)
	}
	return infoCPU(ctx, s.cpu)
}
