export PS1="(ns: getty) $PS1"
