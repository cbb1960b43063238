package owner

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

// envKeeper marks a process started as a keeper. Its value is the PID
// of the process it keeps, for ps listings.
const envKeeper = "RACELAB_OWNER_KEEPER"

// The keeper's descriptors: it reads its owner's messages on keeperFD
// and closes readyFD once it runs (ExtraFiles[0] and [1]).
const (
	keeperFD = 3
	readyFD  = 4
)

// readyWait bounds the wait for a new keeper to run.
const readyWait = 5 * time.Second

// Bounds of the keeper's work once its owner is gone.
const (
	// groupWait bounds the wait for killed process groups to vanish
	// before their directories are removed.
	groupWait = 2 * time.Second
	// engineWait bounds the container engine calls.
	engineWait = 30 * time.Second
)

func init() {
	if os.Getenv(envKeeper) == "" {
		return
	}
	// The marker alone does not make a keeper: a variable exported by
	// mistake must not turn racelab into one. A keeper's descriptors are
	// the pipes its owner passed.
	if !isPipe(keeperFD) || !isPipe(readyFD) {
		_ = os.Unsetenv(envKeeper)
		return
	}
	// This process is a keeper: it does nothing else, whatever program
	// it belongs to.
	_ = os.NewFile(readyFD, "ready").Close()
	os.Exit(runKeeper(os.NewFile(keeperFD, "keeper")))
}

// isPipe reports whether descriptor fd is open on a pipe.
func isPipe(fd int) bool {
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFIFO
}

// Item is one thing a keeper removes if racelab dies before it does.
// Exactly one field is set.
type Item struct {
	// Group is a process group to kill.
	Group *Group `json:"group,omitempty"`
	// Dir is a directory to remove; it carries this process's owner mark.
	Dir string `json:"dir,omitempty"`
	// Container names the containers to force-remove.
	Container *Container `json:"container,omitempty"`
}

// Container selects containers by the value of a label they were created
// with, on one engine.
type Container struct {
	// Host is the engine's address as its client dials it
	// ("unix:///var/run/docker.sock").
	Host string `json:"host"`
	// Label and Value select the containers (racelab.instance=...). Only
	// those that also carry this process's owner mark are removed.
	Label string `json:"label"`
	Value string `json:"value"`
}

// message is one line on the keeper's pipe.
type message struct {
	Hello   *Mark `json:"hello,omitempty"` // the first line: the owner
	ID      int   `json:"id,omitempty"`
	Add     *Item `json:"add,omitempty"`
	Release bool  `json:"release,omitempty"`
}

// keeperClient is this process's end of a keeper's pipe.
type keeperClient struct {
	mu   sync.Mutex
	w    *os.File
	cmd  *exec.Cmd
	next int
	err  error // the first write error: the keeper is gone
}

var keeper struct {
	once sync.Once
	c    *keeperClient
	err  error
}

// Start starts this process's keeper unless it runs, and returns once it
// runs. Track starts it too; calling Start first keeps the keeper's
// start (tens of milliseconds, mostly the Go runtime's) out of a timed
// step.
func Start() error {
	keeper.once.Do(func() { keeper.c, keeper.err = startKeeper() })
	return keeper.err
}

// Track hands item to this process's keeper, starting the keeper the
// first time. The keeper removes item if this process exits before
// calling release; release is idempotent and never nil, also when Track
// fails (then nothing keeps item but the sweeps).
func Track(item Item) (release func(), err error) {
	if err := Start(); err != nil {
		return func() {}, err
	}
	return keeper.c.track(item)
}

// startKeeper starts a keeper: this executable, re-executed, in its own
// session, reading the pipe's read end.
func startKeeper() (*keeperClient, error) {
	me, err := Self()
	if err != nil {
		return nil, err
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("keeper: %w", err)
	}
	defer r.Close()
	readyR, readyW, err := os.Pipe()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("keeper: %w", err)
	}
	defer readyR.Close()
	defer readyW.Close()
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{filepath.Base(os.Args[0]) + " (racelab keeper)"}
	cmd.Env = append(os.Environ(), envKeeper+"="+strconv.Itoa(me.PID))
	cmd.ExtraFiles = []*os.File{r, readyW}
	cmd.Dir = "/" // holds no directory of racelab's busy
	// Its own session: a signal to racelab's process group, or a hang-up
	// of its terminal, does not reach it. No parent-death signal: it must
	// outlive this process.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("keeper: %w", err)
	}
	go func() { _ = cmd.Wait() }() // reap it should it exit first
	// Wait until it runs: its start then overlaps nothing of the caller's.
	readyW.Close()
	_ = readyR.SetReadDeadline(time.Now().Add(readyWait))
	_, _ = readyR.Read(make([]byte, 1)) // EOF once it runs
	c := &keeperClient{w: w, cmd: cmd}
	if err := c.send(message{Hello: &me}); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *keeperClient) track(item Item) (func(), error) {
	c.mu.Lock()
	c.next++
	id := c.next
	c.mu.Unlock()
	if err := c.send(message{ID: id, Add: &item}); err != nil {
		return func() {}, err
	}
	var once sync.Once
	return func() {
		once.Do(func() { _ = c.send(message{ID: id, Release: true}) })
	}, nil
}

// send writes one line. Lines are short, well under the pipe's atomic
// write size; the mutex keeps them whole anyway.
func (c *keeperClient) send(m message) error {
	data, err := json.Marshal(m)
	if err != nil {
		return fmt.Errorf("keeper: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	if _, err := c.w.Write(append(data, '\n')); err != nil {
		c.err = fmt.Errorf("keeper: %w", err)
		return c.err
	}
	return nil
}

// runKeeper is a keeper's whole life: record what its owner tracks until
// the pipe ends, then remove what is still tracked. It returns the exit
// code.
func runKeeper(r *os.File) int {
	// Interrupts are meant for racelab; the keeper's work starts when
	// racelab is gone.
	signal.Ignore(syscall.SIGINT, syscall.SIGHUP, syscall.SIGPIPE)
	var owner *Mark
	tracked := map[int]Item{}
	var order []int
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue
		}
		switch {
		case m.Hello != nil:
			owner = m.Hello
		case m.Add != nil:
			tracked[m.ID] = *m.Add
			order = append(order, m.ID)
		case m.Release:
			delete(tracked, m.ID)
		}
	}
	if owner == nil || len(tracked) == 0 {
		return 0
	}
	var items []Item
	for _, id := range order {
		if it, ok := tracked[id]; ok {
			items = append(items, it)
		}
	}
	if err := removeItems(*owner, items); err != nil {
		return 1
	}
	return 0
}

// removeItems kills the groups, then removes the containers and the
// directories of items, all owned by owner.
func removeItems(owner Mark, items []Item) error {
	var errs []error
	var groups []Group
	for _, it := range items {
		if it.Group != nil {
			if _, err := it.Group.kill(); err != nil {
				errs = append(errs, err)
			}
			groups = append(groups, *it.Group)
		}
	}
	// Engine calls take tens of milliseconds each: run them at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	for _, it := range items {
		if it.Container != nil {
			wg.Go(func() {
				if err := removeContainers(owner, *it.Container); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			})
		}
	}
	wg.Wait()
	// A dying process may still write into its directory.
	awaitGone(groups, groupWait)
	for _, it := range items {
		if it.Dir != "" {
			if err := removeDir(owner, it.Dir); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// removeDir removes dir if it still carries owner's mark.
func removeDir(owner Mark, dir string) error {
	m, err := ReadDirMark(dir)
	if err != nil || m.Owner != owner {
		return nil // kept, unmarked, or not ours
	}
	return os.RemoveAll(dir)
}

// removeContainers force-removes the containers c selects that carry
// owner's mark.
func removeContainers(owner Mark, c Container) error {
	ctx, cancel := context.WithTimeout(context.Background(), engineWait)
	defer cancel()
	cli, err := client.New(client.FromEnv, client.WithHost(c.Host))
	if err != nil {
		return err
	}
	defer cli.Close()
	f := make(client.Filters)
	f.Add("label", c.Label+"="+c.Value)
	f.Add("label", LabelPID+"="+strconv.Itoa(owner.PID))
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return err
	}
	errs := make([]error, len(list.Items))
	var wg sync.WaitGroup
	for i, ctr := range list.Items {
		if m, ok := FromLabels(ctr.Labels); !ok || m != owner || ctr.Labels[c.Label] != c.Value {
			continue
		}
		wg.Go(func() {
			killContainerInit(ctx, cli, ctr.ID)
			_, errs[i] = cli.ContainerRemove(ctx, ctr.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// killContainerInit sends SIGKILL to the container's first process when
// this machine's kernel runs it: the kernel then kills every process of
// the container at once, where the engine's own kill takes a second or
// two on a loaded machine. The process is the container's only if its
// cgroup names the container's id; on a remote engine, or from inside
// another container, the engine's PID names nothing here, and the
// engine's removal does the work.
func killContainerInit(ctx context.Context, cli *client.Client, id string) {
	res, err := cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil || res.Container.State == nil || res.Container.State.Pid <= 1 {
		return
	}
	pid := res.Container.State.Pid
	cg, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil || len(id) < 64 || !strings.Contains(string(cg), id) {
		return
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}
