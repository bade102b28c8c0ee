#!/bin/bash
# A 2-node gang job: both ranks start together, each on its own node with one GPU slot.
#SBATCH -J hello-gang
#SBATCH -N 2
#SBATCH --gpus-per-node=1
#SBATCH --cpus-per-task=1
#SBATCH --time=1:00
#SBATCH --output=hello-gang-%j.%n.out

peers=$(echo "$WEFT_NODE_IPS" | paste -sd ' ')
echo "rank $WEFT_NODE_RANK/$WEFT_NUM_NODES on node $SLURMD_NODENAME (host $(hostname))"
echo "  peers: $peers  master: $MASTER_ADDR:$MASTER_PORT"
echo "  CUDA_VISIBLE_DEVICES=$CUDA_VISIBLE_DEVICES"
