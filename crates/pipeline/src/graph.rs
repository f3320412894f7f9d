//! The pipeline DAG (petgraph): dangling inputs and cycles are found here,
//! before anything runs, and the graph is printed as text, DOT or Mermaid.

use std::collections::HashMap;
use std::fmt::Write as _;

use petgraph::Direction;
use petgraph::graph::{DiGraph, NodeIndex};

use super::spec::{Pipeline, SpecError, StepAction};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKind {
    Source,
    Step,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub name: String,
    pub kind: NodeKind,
    /// e.g. `clean-text`, `train logistic-regression`, `data/m.csv`
    pub label: String,
}

/// Sources and steps, with an edge from each input (and fit input) to its step.
#[derive(Debug, Clone)]
pub struct Dag {
    pub graph: DiGraph<Node, &'static str>,
    index: HashMap<String, NodeIndex>,
}

impl Dag {
    pub fn build(pipeline: &Pipeline) -> Result<Self, SpecError> {
        let mut graph = DiGraph::new();
        let mut index = HashMap::new();
        for source in &pipeline.sources {
            let label = match &source.kind {
                super::spec::SourceKind::File(path) => path.display().to_string(),
                super::spec::SourceKind::Query(_) => "SQL query".to_string(),
            };
            index.insert(
                source.name.clone(),
                graph.add_node(Node {
                    name: source.name.clone(),
                    kind: NodeKind::Source,
                    label,
                }),
            );
        }
        for step in &pipeline.steps {
            let label = match &step.action {
                StepAction::Plugin(p) => p.clone(),
                StepAction::Train(spec) => format!("train {}", spec.algorithm),
                StepAction::Predict { model } => format!("predict with {model}"),
                StepAction::PredictRegistered(model) => format!("predict with {model}"),
                StepAction::Transform(spec) => format!("transform {}", spec.algorithm),
            };
            index.insert(
                step.name.clone(),
                graph.add_node(Node {
                    name: step.name.clone(),
                    kind: NodeKind::Step,
                    label,
                }),
            );
        }
        for step in &pipeline.steps {
            let to = index[&step.name];
            let model = match &step.action {
                StepAction::Predict { model } => Some(model),
                _ => None,
            };
            for (field, input) in [
                ("input", Some(&step.input)),
                ("fit", step.fit.as_ref()),
                ("predict", model),
            ] {
                let Some(input) = input else { continue };
                let Some(&from) = index.get(input) else {
                    let mut known: Vec<&str> = index
                        .keys()
                        .map(String::as_str)
                        .filter(|n| *n != step.name)
                        .collect();
                    known.sort();
                    return Err(SpecError::new(
                        &pipeline.file,
                        format!("[step.{}] {field}", step.name),
                        format!(
                            "`{input}` is neither a source nor a step (known: {})",
                            known.join(", ")
                        ),
                    ));
                };
                graph.add_edge(
                    from,
                    to,
                    match field {
                        "fit" => "fit",
                        "predict" => "model",
                        _ => "input",
                    },
                );
            }
        }
        let dag = Dag { graph, index };
        if let Some(cycle) = dag.find_cycle() {
            return Err(SpecError::new(
                &pipeline.file,
                "",
                format!("the steps form a cycle: {}", cycle.join(" -> ")),
            ));
        }
        Ok(dag)
    }

    /// A cycle as node names, first repeated at the end, if there is one.
    fn find_cycle(&self) -> Option<Vec<String>> {
        // 0 = unvisited, 1 = on the current path, 2 = done
        let mut state = vec![0u8; self.graph.node_count()];
        let mut path = Vec::new();
        fn visit(
            dag: &Dag,
            node: NodeIndex,
            state: &mut [u8],
            path: &mut Vec<NodeIndex>,
        ) -> Option<Vec<String>> {
            state[node.index()] = 1;
            path.push(node);
            for next in dag.graph.neighbors_directed(node, Direction::Outgoing) {
                if state[next.index()] == 1 {
                    let start = path.iter().position(|n| *n == next).unwrap();
                    let mut names: Vec<String> = path[start..]
                        .iter()
                        .map(|n| dag.graph[*n].name.clone())
                        .collect();
                    names.push(dag.graph[next].name.clone());
                    return Some(names);
                }
                if state[next.index()] == 0
                    && let Some(cycle) = visit(dag, next, state, path)
                {
                    return Some(cycle);
                }
            }
            path.pop();
            state[node.index()] = 2;
            None
        }
        for node in self.graph.node_indices() {
            if state[node.index()] == 0
                && let Some(cycle) = visit(self, node, &mut state, &mut path)
            {
                return Some(cycle);
            }
        }
        None
    }

    /// Step names in an order where every step comes after its inputs.
    pub fn topological_steps(&self) -> Vec<String> {
        petgraph::algo::toposort(&self.graph, None)
            .expect("cycles are refused in build")
            .into_iter()
            .filter(|n| self.graph[*n].kind == NodeKind::Step)
            .map(|n| self.graph[n].name.clone())
            .collect()
    }

    /// Every node downstream of `name` (not including it).
    pub fn descendants(&self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut dfs = petgraph::visit::Dfs::new(&self.graph, self.index[name]);
        while let Some(node) = dfs.next(&self.graph) {
            if self.graph[node].name != name {
                out.push(self.graph[node].name.clone());
            }
        }
        out
    }

    /// Every node upstream of `name` (not including it): sources and steps
    /// whose tables, fit passes or models it depends on.
    pub fn ancestors(&self, name: &str) -> Vec<String> {
        let reversed = petgraph::visit::Reversed(&self.graph);
        let mut out = Vec::new();
        let mut dfs = petgraph::visit::Dfs::new(reversed, self.index[name]);
        while let Some(node) = dfs.next(reversed) {
            if self.graph[node].name != name {
                out.push(self.graph[node].name.clone());
            }
        }
        out
    }

    fn edges(&self) -> Vec<(&Node, &Node, &'static str)> {
        self.graph
            .edge_indices()
            .map(|e| {
                let (a, b) = self.graph.edge_endpoints(e).unwrap();
                (&self.graph[a], &self.graph[b], self.graph[e])
            })
            .collect()
    }

    pub fn to_text(&self, pipeline: &Pipeline) -> String {
        let mut out = format!("pipeline {}\n", pipeline.name);
        for source in &pipeline.sources {
            let node = &self.graph[self.index[&source.name]];
            writeln!(out, "  source {:<16} {}", node.name, node.label).unwrap();
        }
        for name in self.topological_steps() {
            let node = &self.graph[self.index[&name]];
            let inputs: Vec<String> = self
                .graph
                .edges_directed(self.index[&name], Direction::Incoming)
                .map(|e| {
                    let from = &self.graph[petgraph::visit::EdgeRef::source(&e)];
                    if *e.weight() == "fit" {
                        format!("fit on {}", from.name)
                    } else {
                        from.name.clone()
                    }
                })
                .collect();
            writeln!(
                out,
                "  step   {:<16} {:<24} <- {}",
                node.name,
                node.label,
                inputs.join(", ")
            )
            .unwrap();
        }
        out
    }

    pub fn to_dot(&self, pipeline: &Pipeline) -> String {
        let mut out = format!("digraph {:?} {{\n  rankdir=LR;\n", pipeline.name);
        for node in self.graph.node_weights() {
            let shape = if node.kind == NodeKind::Source {
                "cylinder"
            } else {
                "box"
            };
            writeln!(
                out,
                "  {:?} [shape={shape}, label={:?}];",
                node.name,
                format!("{}\n{}", node.name, node.label)
            )
            .unwrap();
        }
        for (a, b, kind) in self.edges() {
            let style = if kind == "fit" {
                " [style=dashed, label=\"fit\"]"
            } else {
                ""
            };
            writeln!(out, "  {:?} -> {:?}{style};", a.name, b.name).unwrap();
        }
        out.push_str("}\n");
        out
    }

    pub fn to_mermaid(&self) -> String {
        let id = |name: &str| name.replace('-', "_");
        let mut out = String::from("flowchart LR\n");
        for node in self.graph.node_weights() {
            let (open, close) = if node.kind == NodeKind::Source {
                ("[(", ")]")
            } else {
                ("[", "]")
            };
            writeln!(
                out,
                "  {}{open}\"{}<br/>{}\"{close}",
                id(&node.name),
                node.name,
                node.label.replace('"', "'")
            )
            .unwrap();
        }
        for (a, b, kind) in self.edges() {
            let arrow = if kind == "fit" { "-. fit .->" } else { "-->" };
            writeln!(out, "  {} {arrow} {}", id(&a.name), id(&b.name)).unwrap();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn pipeline(steps: &str) -> Pipeline {
        Pipeline::parse(
            &format!("[pipeline]\nname = \"t\"\n[source.s]\npath = \"s.csv\"\n{steps}"),
            Path::new("p.toml"),
        )
        .unwrap()
    }

    #[test]
    fn orders_steps_and_finds_descendants() {
        let p = pipeline(
            "[step.b]\nplugin = \"x\"\ninput = \"a\"\n[step.a]\nplugin = \"x\"\ninput = \"s\"\n[step.c]\nplugin = \"x\"\ninput = \"s\"\n",
        );
        let dag = Dag::build(&p).unwrap();
        let order = dag.topological_steps();
        assert!(order.iter().position(|n| n == "a") < order.iter().position(|n| n == "b"));
        assert_eq!(dag.descendants("a"), vec!["b".to_string()]);
        assert!(dag.to_dot(&p).contains("\"a\" -> \"b\""));
        assert!(dag.to_mermaid().contains("a --> b"));
        assert!(dag.to_text(&p).contains("b "));
    }

    #[test]
    fn prints_the_cycle_and_names_dangling_inputs() {
        let p = pipeline(
            "[step.a]\nplugin = \"x\"\ninput = \"c\"\n[step.b]\nplugin = \"x\"\ninput = \"a\"\n[step.c]\nplugin = \"x\"\ninput = \"b\"\n",
        );
        let e = Dag::build(&p).unwrap_err().to_string();
        assert!(e.contains("cycle: a -> b -> c -> a"), "{e}");
        let p = pipeline("[step.a]\nplugin = \"x\"\ninput = \"nope\"\n");
        let e = Dag::build(&p).unwrap_err().to_string();
        assert!(
            e.contains("[step.a] input") && e.contains("`nope`") && e.contains("known: s"),
            "{e}"
        );
    }
}
