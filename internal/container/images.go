package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/moby/moby/client"
)

// ErrImageNotFound is returned (wrapped) by InspectImage for a reference
// the engine does not have.
var ErrImageNotFound = errors.New("image not found")

// ImageSummary describes an image in the local engine.
type ImageSummary struct {
	ID      string
	Tags    []string
	Labels  map[string]string
	Size    int64
	Created time.Time
}

// InspectImage describes the local image ref. It never pulls.
func InspectImage(ctx context.Context, ref string) (ImageSummary, error) {
	cli, err := newClient(ctx)
	if err != nil {
		return ImageSummary{}, fmt.Errorf("inspect image: %w", err)
	}
	defer cli.Close()
	return inspectImage(ctx, cli.Client, ref)
}

func inspectImage(ctx context.Context, cli *client.Client, ref string) (ImageSummary, error) {
	res, err := cli.ImageInspect(ctx, ref)
	if isNotFound(err) {
		return ImageSummary{}, fmt.Errorf("inspect image %s: %w", ref, ErrImageNotFound)
	}
	if err != nil {
		return ImageSummary{}, fmt.Errorf("inspect image %s: %w", ref, err)
	}
	s := ImageSummary{ID: res.ID, Tags: slices.Clone(res.RepoTags), Size: res.Size}
	if res.Config != nil {
		s.Labels = res.Config.Labels
	}
	if t, err := time.Parse(time.RFC3339Nano, res.Created); err == nil {
		s.Created = t
	}
	return s, nil
}

// ListImages lists the local images that carry the label key label.
func ListImages(ctx context.Context, label string) ([]ImageSummary, error) {
	cli, err := newClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	defer cli.Close()
	res, err := cli.ImageList(ctx, client.ImageListOptions{Filters: make(client.Filters).Add("label", label)})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	out := make([]ImageSummary, 0, len(res.Items))
	for _, im := range res.Items {
		if _, ok := im.Labels[label]; !ok {
			continue
		}
		out = append(out, ImageSummary{
			ID:      im.ID,
			Tags:    slices.Clone(im.RepoTags),
			Labels:  im.Labels,
			Size:    im.Size,
			Created: time.Unix(im.Created, 0),
		})
	}
	return out, nil
}

// ImportImage creates the image ref from a tar stream of a root
// filesystem, the engine's image import. changes are Dockerfile
// instructions applied to the image (LABEL, ENV).
func ImportImage(ctx context.Context, rootfs io.Reader, ref string, changes []string) (ImageSummary, error) {
	cli, err := newClient(ctx)
	if err != nil {
		return ImageSummary{}, fmt.Errorf("import image: %w", err)
	}
	defer cli.Close()
	res, err := cli.ImageImport(ctx, client.ImageImportSource{Source: rootfs, SourceName: "-"}, ref,
		client.ImageImportOptions{Changes: changes, Message: "racelab images build"})
	if err != nil {
		return ImageSummary{}, fmt.Errorf("import image %s: %w", ref, err)
	}
	defer res.Close()
	if err := engineStream(res); err != nil {
		return ImageSummary{}, fmt.Errorf("import image %s: %w", ref, err)
	}
	return inspectImage(ctx, cli.Client, ref)
}

// engineStream reads an engine progress stream to its end and returns
// the first error it reports.
func engineStream(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error       string `json:"error"`
			ErrorDetail struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		err := dec.Decode(&msg)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if msg.ErrorDetail.Message != "" {
			return errors.New(msg.ErrorDetail.Message)
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

// TagImage gives the local image source the additional reference target.
func TagImage(ctx context.Context, source, target string) error {
	cli, err := newClient(ctx)
	if err != nil {
		return fmt.Errorf("tag image: %w", err)
	}
	defer cli.Close()
	if _, err := cli.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: target}); err != nil {
		return fmt.Errorf("tag image %s as %s: %w", source, target, err)
	}
	return nil
}

// RemoveImage removes the local image ref (an id removes the image and
// all its tags) and returns what the engine untagged and deleted.
func RemoveImage(ctx context.Context, ref string) ([]string, error) {
	cli, err := newClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("remove image: %w", err)
	}
	defer cli.Close()
	res, err := cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	if err != nil {
		return nil, fmt.Errorf("remove image %s: %w", ref, err)
	}
	var out []string
	for _, item := range res.Items {
		if item.Untagged != "" {
			out = append(out, "untagged "+item.Untagged)
		}
		if item.Deleted != "" {
			out = append(out, "deleted "+item.Deleted)
		}
	}
	return out, nil
}
