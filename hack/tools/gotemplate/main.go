// Command gotemplate reads a JSON list of {template, data} cases on stdin and
// writes, for each, what Go's text/template renders ({output}) or why it
// refuses ({error}). The data types mirror Flux's: types.NamespacedName,
// update.ResultV2 (FileChanges, and the Changes and Objects methods) and
// ObjectIdentifier (kyaml's ResourceIdentifier fields).
package main

import (
	"encoding/json"
	"os"
	"strings"
	"text/template"
)

type NamespacedName struct {
	Namespace string
	Name      string
}

func (n NamespacedName) String() string { return n.Namespace + "/" + n.Name }

type TypeMeta struct {
	APIVersion string
	Kind       string
}

type NameMeta struct {
	Name      string
	Namespace string
}

type ResourceIdentifier struct {
	TypeMeta
	NameMeta
}

type ObjectIdentifier struct {
	ResourceIdentifier
}

type Change struct {
	OldValue string
	NewValue string
	Setter   string
}

type ObjectChanges map[ObjectIdentifier][]Change

type ResultV2 struct {
	FileChanges map[string]ObjectChanges
	order       []Change
}

// Changes in the order they were made (Flux walks a map here; the test data has
// one file so the order is the same).
func (r ResultV2) Changes() []Change { return r.order }

func (r ResultV2) Objects() ObjectChanges {
	out := ObjectChanges{}
	for _, objects := range r.FileChanges {
		for id, changes := range objects {
			out[id] = append(out[id], changes...)
		}
	}
	return out
}

type TemplateData struct {
	AutomationObject NamespacedName
	Changed          ResultV2
	Values           map[string]string
}

type inputChange struct {
	File       string `json:"file"`
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
	Namespace  string `json:"namespace"`
	Old        string `json:"old"`
	New        string `json:"new"`
	Setter     string `json:"setter"`
}

type inputCase struct {
	Template  string            `json:"template"`
	Namespace string            `json:"namespace"`
	Name      string            `json:"name"`
	Values    map[string]string `json:"values"`
	Changes   []inputChange     `json:"changes"`
}

type result struct {
	Output string `json:"output"`
	Error  string `json:"error,omitempty"`
}

func render(c inputCase) result {
	changed := ResultV2{FileChanges: map[string]ObjectChanges{}}
	for _, ch := range c.Changes {
		id := ObjectIdentifier{ResourceIdentifier{TypeMeta{ch.APIVersion, ch.Kind}, NameMeta{ch.Name, ch.Namespace}}}
		change := Change{OldValue: ch.Old, NewValue: ch.New, Setter: ch.Setter}
		if changed.FileChanges[ch.File] == nil {
			changed.FileChanges[ch.File] = ObjectChanges{}
		}
		changed.FileChanges[ch.File][id] = append(changed.FileChanges[ch.File][id], change)
		changed.order = append(changed.order, change)
	}
	values := c.Values
	if values == nil {
		values = map[string]string{}
	}
	data := TemplateData{NamespacedName{c.Namespace, c.Name}, changed, values}
	tmpl, err := template.New("msg").Parse(c.Template)
	if err != nil {
		return result{Error: err.Error()}
	}
	var out strings.Builder
	if err := tmpl.Execute(&out, data); err != nil {
		return result{Error: err.Error()}
	}
	return result{Output: out.String()}
}

func main() {
	var cases []inputCase
	if err := json.NewDecoder(os.Stdin).Decode(&cases); err != nil {
		os.Stderr.WriteString("gotemplate: " + err.Error() + "\n")
		os.Exit(2)
	}
	results := make([]result, len(cases))
	for i, c := range cases {
		results[i] = render(c)
	}
	if err := json.NewEncoder(os.Stdout).Encode(results); err != nil {
		os.Exit(2)
	}
}
