package container

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/racelab/racelab/internal/owner"
)

// Cleanup removes racelab's containers, running or not: those of run
// runID, or every container labelled racelab.managed=true when runID is
// empty. It returns the ids it removed.
func Cleanup(ctx context.Context, runID string) (removed []string, err error) {
	cli, err := newClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("cleanup: %w", err)
	}
	defer cli.Close()
	return removeLabelled(ctx, cli, cleanupLabels(runID))
}

// Summary describes a racelab container.
type Summary struct {
	ID      string
	Image   string
	Kind    string
	RunID   string
	State   string // "running", "exited", "created", ...
	Created time.Time
	// Owner is the racelab process that created it (zero when the
	// container carries no owner mark).
	Owner owner.Mark
}

// List returns racelab's containers, running or not: those of run runID,
// or all of them when runID is empty.
func List(ctx context.Context, runID string) ([]Summary, error) {
	cli, err := newClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	defer cli.Close()
	labels := cleanupLabels(runID)
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: labelFilters(labels)})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []Summary
	for _, c := range res.Items {
		if !matches(c.Labels, labels) {
			continue
		}
		mark, _ := owner.FromLabels(c.Labels)
		out = append(out, Summary{
			ID:      c.ID,
			Image:   c.Image,
			Kind:    c.Labels[LabelKind],
			RunID:   c.Labels[LabelRun],
			State:   string(c.State),
			Created: time.Unix(c.Created, 0),
			Owner:   mark,
		})
	}
	return out, nil
}

// SweepGone removes racelab's containers whose owner is gone: those
// whose owner mark (owner.Mark, as labels) names a racelab process of
// this boot and PID namespace that has exited. A container without an
// owner mark, or whose owner lives or ran elsewhere (another machine on a
// shared engine), is never touched. With dryRun it removes nothing and
// returns what it would remove.
func SweepGone(ctx context.Context, dryRun bool) ([]owner.Removal, error) {
	cli, err := newClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("sweep containers: %w", err)
	}
	defer cli.Close()
	return sweepGone(ctx, cli, dryRun)
}

func sweepGone(ctx context.Context, cli containerAPI, dryRun bool) ([]owner.Removal, error) {
	labels := map[string]string{LabelManaged: "true"}
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: labelFilters(labels)})
	if err != nil {
		return nil, fmt.Errorf("sweep containers: %w", err)
	}
	var out []owner.Removal
	var errs []error
	for _, c := range list.Items {
		m, ok := owner.FromLabels(c.Labels)
		if !matches(c.Labels, labels) || !ok || !m.Gone() {
			continue
		}
		r := owner.Removal{What: fmt.Sprintf("container %s (%s, %s)", shortID(c.ID), c.Labels[LabelKind], c.State), Owner: m}
		if !dryRun {
			_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
			if isNotFound(err) || isRemoving(err) {
				continue // removed meanwhile, or being removed (by a keeper)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("remove container %s: %w", shortID(c.ID), err))
				continue
			}
		}
		out = append(out, r)
	}
	return out, errors.Join(errs...)
}

// cleanupLabels selects the containers Cleanup removes.
func cleanupLabels(runID string) map[string]string {
	labels := map[string]string{LabelManaged: "true"}
	if runID != "" {
		labels[LabelRun] = runID
	}
	return labels
}

// labelFilters turns labels into engine list filters; every label must
// match.
func labelFilters(labels map[string]string) client.Filters {
	f := make(client.Filters)
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		f.Add("label", k+"="+labels[k])
	}
	return f
}

// containerAPI is the part of the engine client cleanup needs.
type containerAPI interface {
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerRemove(ctx context.Context, id string, options client.ContainerRemoveOptions) (client.ContainerRemoveResult, error)
}

// removeLabelled force-removes every container carrying all labels.
func removeLabelled(ctx context.Context, cli containerAPI, labels map[string]string) ([]string, error) {
	if len(labels) == 0 {
		return nil, errors.New("remove containers: refusing an empty label selector")
	}
	list, err := cli.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: labelFilters(labels)})
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var removed []string
	var errs []error
	for _, c := range list.Items {
		if !matches(c.Labels, labels) {
			// The engine filtered already; never remove what a filter
			// bug let through.
			continue
		}
		_, err := cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
		switch {
		case err == nil:
			removed = append(removed, c.ID)
		case isNotFound(err):
			// Removed concurrently (Stop, or the engine's auto-remove).
		default:
			errs = append(errs, fmt.Errorf("remove container %s: %w", shortID(c.ID), err))
		}
	}
	return removed, errors.Join(errs...)
}

// isRemoving reports the engine's refusal to remove a container whose
// removal is already in progress.
func isRemoving(err error) bool {
	return cerrdefs.IsConflict(err) && strings.Contains(err.Error(), "already in progress")
}

func matches(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}
