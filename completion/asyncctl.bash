# bash completion for asyncctl(1)                          -*- shell-script -*-
#
# Uses the bash-completion helpers when they are loaded and plain compgen
# otherwise, so that it also works when sourced by hand.

_asyncctl_filedir()
{
	if declare -F _filedir >/dev/null; then
		_filedir "$@"
		return
	fi
	compopt -o filenames 2>/dev/null
	if [[ $1 == -d ]]; then
		COMPREPLY=($(compgen -d -- "$cur"))
	else
		COMPREPLY=($(compgen -f -- "$cur"))
	fi
}

# The caller's queue names, from the daemon named by --socket (if any on
# the line) or the default one; nothing when it cannot be asked at once,
# nor from another host's daemon (-H, $ASYNCD_HOST): ssh might ask for a
# password in the middle of the line.
_asyncctl_queues()
{
	local i sock=() host=${ASYNCD_HOST-}
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		--socket) sock=(--socket "${words[i + 1]}") ;;
		--socket=*) sock=(--socket "${words[i]#*=}") ;;
		-H | --host) host=${words[i + 1]} ;;
		--host=*) host=${words[i]#*=} ;;
		esac
	done
	[[ -n $host ]] && return
	local names
	names=$(timeout 1 "${words[0]}" "${sock[@]}" queue 2>/dev/null |
		awk 'NR > 1 { print $1 }')
	COMPREPLY=($(compgen -W "$names" -- "$cur"))
}

_asyncctl()
{
	local cur prev words cword split=false
	if declare -F _init_completion >/dev/null; then
		_init_completion -s || return
	else
		# Words split on white space only, so that --opt=value stays one.
		local line=${COMP_LINE:0:COMP_POINT}
		read -ra words <<<"$line"
		[[ $line == *[[:space:]] || ${#words[@]} -eq 0 ]] && words+=("")
		cword=$((${#words[@]} - 1))
		cur=${words[cword]}
		prev=${words[cword - 1]}
		if [[ $cur == --*=* ]]; then
			prev=${cur%%=*}
			cur=${cur#*=}
			split=true
		fi
	fi

	local commands="sleep download read-file fetch-user process get list
		cancel wait watch log queue pause resume restart rm clean info metrics
		batch top call bridge"
	local global="-H --host --ssh --socket --json --help --version"
	local submit="--detach --label --after --timeout --queue --priority
		--in --at --retry --retry-delay --after-any"

	# The command, and for process where its program starts.
	local i w command= program=0 dashdash=0
	for ((i = 1; i < cword; i++)); do
		w=${words[i]}
		if ((dashdash)); then
			((program == 0)) && program=$i
			continue
		fi
		case $w in
		--)
			dashdash=1
			;;
		# Options that take the next word as their value.
		--socket | -H | --host | --ssh | --label | --after | --timeout | \
			-o | --output | \
			--sha256 | --max-bytes | --offset | --length | --state | \
			--kind | --limit | --cwd | --env | --stdin | --queue | \
			--priority | --in | --at | --retry | --retry-delay | \
			--after-any | --max-running)
			((i++))
			;;
		-*) ;;
		*)
			if [[ -z $command ]]; then
				command=$w
			elif [[ $command == process ]] && ((program == 0)); then
				program=$i
				dashdash=1
			fi
			;;
		esac
	done

	# After the program of process: its own arguments.
	if [[ $command == process ]] && ((program > 0)); then
		if declare -F _command_offset >/dev/null; then
			# Its index in COMP_WORDS, which splits words at '='.
			local j=$program
			while ((j < COMP_CWORD)) &&
				[[ ${COMP_WORDS[j]} != "${words[program]}" ]]; do
				((j++))
			done
			_command_offset "$j"
		else
			_asyncctl_filedir
		fi
		return
	fi
	if [[ $command == process ]] && ((dashdash)); then
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -c -- "$cur"))
		return
	fi

	case $prev in
	--socket | -o | --output | --stdin | --textfile)
		_asyncctl_filedir
		return
		;;
	--cwd)
		_asyncctl_filedir -d
		return
		;;
	-H | --host)
		# [USER@]HOST[:SOCKET]: the hosts ssh knows.
		if declare -F _known_hosts_real >/dev/null; then
			_known_hosts_real -a -- "$cur"
		else
			COMPREPLY=($(compgen -A hostname -- "$cur"))
		fi
		return
		;;
	--ssh)
		COMPREPLY=($(compgen -c -- "$cur"))
		return
		;;
	--state)
		if [[ $command == clean ]]; then
			COMPREPLY=($(compgen -W "completed failed" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "queued running completed failed" \
				-- "$cur"))
		fi
		return
		;;
	--queue)
		_asyncctl_queues
		return
		;;
	--max-running)
		COMPREPLY=($(compgen -W "none" -- "$cur"))
		return
		;;
	--kind)
		COMPREPLY=($(compgen -W "sleep download read-file fetch-user process" \
			-- "$cur"))
		return
		;;
	--env)
		compopt -o nospace 2>/dev/null
		COMPREPLY=($(compgen -e -S = -- "$cur"))
		return
		;;
	--label | --after | --timeout | --sha256 | --max-bytes | --offset | \
		--length | --limit | --priority | --in | --at | --retry | \
		--retry-delay | --after-any)
		return
		;;
	esac
	$split && return

	if [[ $cur == -* ]]; then
		local opts=$global
		case $command in
		"") opts+=" $submit" ;;
		sleep | fetch-user) opts+=" $submit" ;;
		download)
			opts+=" $submit -o --output --sha256 --resume --overwrite"
			opts+=" --max-bytes"
			;;
		read-file) opts+=" $submit --offset --length" ;;
		process) opts+=" $submit --cwd --env --stdin --" ;;
		list) opts+=" --state --kind --queue --limit" ;;
		log) opts+=" -f --follow" ;;
		queue) opts+=" --max-running" ;;
		restart) opts+=" --detach --failed --queue" ;;
		clean) opts+=" --state --queue" ;;
		metrics) opts+=" --textfile" ;;
		batch) opts+=" --detach" ;;
		bridge) opts="--socket --help" ;;
		top) opts+=" --limit" ;;
		esac
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi

	case $command in
	"")
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		;;
	read-file)
		_asyncctl_filedir
		;;
	fetch-user)
		COMPREPLY=($(compgen -u -- "$cur"))
		;;
	queue)
		# queue [NAME], queue pause|resume NAME
		local args=()
		for ((i = 1; i < cword; i++)); do
			case ${words[i]} in
			--max-running | --socket | -H | --host | --ssh) ((i++)) ;;
			-*) ;;
			*) args+=("${words[i]}") ;;
			esac
		done
		# args[0] is "queue" itself.
		if ((${#args[@]} == 1)); then
			_asyncctl_queues
			COMPREPLY+=($(compgen -W "pause resume" -- "$cur"))
		elif ((${#args[@]} == 2)) &&
			[[ ${args[1]} == pause || ${args[1]} == resume ]]; then
			_asyncctl_queues
		fi
		;;
	process)
		compopt -o filenames 2>/dev/null
		COMPREPLY=($(compgen -c -- "$cur"))
		;;
	call)
		local n=0
		for ((i = 1; i < cword; i++)); do
			[[ ${words[i]} == call ]] && n=$((cword - i))
		done
		((n == 1)) && COMPREPLY=($(compgen -W "job.submit job.get job.list
			job.cancel job.watch job.pause job.resume job.update
			job.restart job.remove job.clean queue.set queue.list
			queue.pause queue.resume daemon.info daemon.metrics" \
			-- "$cur"))
		;;
	esac
} &&
	complete -F _asyncctl asyncctl

# ex: filetype=sh
