package testdb

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// envRedisAddr names the Redis server (HOST:PORT) that CI provides
// (.ci/run exports it). No store uses Redis yet; this test keeps the
// variable honest: CI fails when the Redis it promises does not answer.
const envRedisAddr = "ROTOR_TEST_REDIS_ADDR"

// TestRedisAnswers sends a PING (RESP inline command) to the Redis of
// ROTOR_TEST_REDIS_ADDR and expects +PONG. Without the variable it skips,
// or fails if ROTOR_TEST_REQUIRE_SERVICES=1.
func TestRedisAnswers(t *testing.T) {
	addr := os.Getenv(envRedisAddr)
	if addr == "" {
		msg := "set " + envRedisAddr + "=127.0.0.1:6379 to run the Redis test"
		if os.Getenv(EnvRequireServices) == "1" {
			t.Fatal(EnvRequireServices + "=1 but " + envRedisAddr + " is unset: " + msg)
		}
		t.Skip(msg)
	}
	if err := pingRedis(addr, 5*time.Second); err != nil {
		t.Fatalf("%s=%s: %v", envRedisAddr, addr, err)
	}
}

// pingRedis sends PING to the Redis server at addr and checks the answer,
// all within timeout.
func pingRedis(addr string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	// A reply line is short; 512 bytes is plenty to show an error reply.
	line, err := bufio.NewReaderSize(conn, 512).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q, want +PONG", strings.TrimRight(line, "\r\n"))
	}
	return nil
}

// TestPingRedisRefusesAnErrorReply: a Redis that answers with an error
// (here, one that wants a password) does not pass for a working one.
func TestPingRedisRefusesAnErrorReply(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			defer c.Close()
			_, _ = c.Write([]byte("-NOAUTH Authentication required.\r\n"))
		}
	}()
	err = pingRedis(ln.Addr().String(), 5*time.Second)
	if err == nil || !strings.Contains(err.Error(), "-NOAUTH") {
		t.Fatalf("pingRedis against a server that refuses: %v", err)
	}
}
